/**
 * Batch status changes as Redis publishes them (transition.lua, api-trouble.lua and finish.lua's
 * error-budget halt publish in the same Lua step that writes the status; completion is not published:
 * nothing is left to send): a worker's gate may trust a status read made before a short
 * wait — for a place among the requests in flight — when no change was published since, instead of
 * reading it again with the place held (~1.4 ms of every request's 25 in a busy cold run).
 *
 * Trust is all or nothing: `version()` changes with every message and every loss of the subscription,
 * and is undefined while the subscription is not known to be live (before its acknowledgement, after a
 * disconnect until it is renewed) — then gates read the status fresh, as without a feed. A message
 * arrives about when a read issued at the same moment would: the gate's window is the same. Should a
 * message be lost unseen (a Cluster node's failover under the subscription), the cost is bounded: every
 * request's slot reservation reads the status again, so a change is seen a place's wait later at most.
 */
import type { ScriptClient } from './scripts.js';
import { connectRedis } from './connect.js';

export class StatusFeed {
  #version = 0;
  #live = false;
  readonly #redis: ScriptClient;

  constructor(url: string, private readonly channel: string) {
    this.#redis = connectRedis(url);
    this.#redis.on('message', (from: string) => {
      if (from === this.channel) this.#version++;
    });
    const lost = () => {
      this.#live = false;
      this.#version++;
    };
    this.#redis.on('close', lost);
    this.#redis.on('reconnecting', lost);
    // ioredis subscribes again by itself after a reconnect; the acknowledgement of ours says when.
    this.#redis.on('ready', () => this.#subscribe());
  }

  #subscribe(): void {
    this.#redis.subscribe(this.channel).then(
      () => {
        this.#version++;
        this.#live = true;
      },
      () => {
        this.#live = false;
      },
    );
  }

  /** Changes with every published status change (and lost subscription); undefined while not live. */
  version(): number | undefined {
    return this.#live ? this.#version : undefined;
  }

  close(): void {
    this.#live = false;
    this.#redis.disconnect();
  }
}
