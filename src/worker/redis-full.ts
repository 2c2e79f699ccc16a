/**
 * Halting a batch `redis_full` (issue 25; the why is in store/redis-memory.ts). Two ways in: a worker's
 * poll sees Redis nearly full (less than its headroom left) — the usual one, while writes still work —
 * or a write was refused for memory anyway (a burst between two polls). Either way the batch halts
 * (exit 3 for `run`), no attempt is spent, and the halt says what the rest of the batch needs.
 */
import { halt } from '../batch/halt.js';
import type { BatchStore } from '../store/batch-store.js';
export { isRedisFull } from '../store/redis-memory.js';
import { AGENT_BYTES_ESTIMATE, bytesLeft, describeNeed, headroom, type MemoryRoom } from '../store/redis-memory.js';

/** Halts a running batch `redis_full`; returns the reason written, or undefined if it was not running. */
export async function haltRedisFull(store: BatchStore, batchId: string, known?: MemoryRoom): Promise<string | undefined> {
  const room = known ?? (await store.memoryRoom());
  const pending = (await store.counts(batchId)).pending;
  const perAgent = (await store.finishedAgentBytes(batchId)) ?? AGENT_BYTES_ESTIMATE;
  const figures = room ? `: ${describeNeed(pending, perAgent, room)}` : '';
  const reason = halt('redis_full', `Redis is out of memory${figures}`);
  const was = await store.transitionWhenFull(batchId, 'halted', ['running'], { haltReason: reason });
  return was ? reason : undefined;
}

/**
 * A worker's poll: if Redis has less than its headroom left, each of these batches that is running is
 * halted. Returns the halts made. A Redis that does not say how full it is is left alone.
 */
export async function haltIfNearlyFull(store: BatchStore, batchIds: readonly string[]): Promise<Array<{ batchId: string; reason: string }>> {
  if (batchIds.length === 0) return [];
  const room = await store.memoryRoom().catch(() => undefined);
  if (!room || room.max === 0 || bytesLeft(room) >= headroom(room)) return [];
  const halts: Array<{ batchId: string; reason: string }> = [];
  for (const batchId of batchIds) {
    const reason = await haltRedisFull(store, batchId, room);
    if (reason) halts.push({ batchId, reason });
  }
  return halts;
}

/**
 * Before a submit enqueues `agents` agents: a warning if they may not fit in what Redis has left (the
 * estimate per agent is AGENT_BYTES_ESTIMATE, measured with 2.5 KB prompts), else undefined.
 */
export async function fitWarning(store: BatchStore, agents: number): Promise<string | undefined> {
  const room = await store.memoryRoom().catch(() => undefined);
  if (!room || room.max === 0 || agents * AGENT_BYTES_ESTIMATE + headroom(room) <= bytesLeft(room)) return undefined;
  return `warning: the batch may not fit in Redis (${describeNeed(agents, AGENT_BYTES_ESTIMATE, room)}); it halts \`redis_full\` when Redis is nearly full — raise maxmemory first`;
}

/**
 * `fn` at most once per `everyMs` (the others get the first call's promise): a full Redis refuses every
 * job's writes at once, and one halt is enough.
 */
export function atMostEvery(everyMs: number, fn: () => Promise<unknown>): () => Promise<void> {
  let last = 0;
  let running: Promise<void> = Promise.resolve();
  return () => {
    if (Date.now() - last >= everyMs) {
      last = Date.now();
      running = fn().then(
        () => undefined,
        () => undefined,
      );
    }
    return running;
  };
}

/** `onError`, with errors that `alike` lets through at most once per `everyMs` (the others dropped). */
export function quietRepeats(onError: (error: Error) => void, alike: (error: Error) => boolean, everyMs: number): (error: Error) => void {
  let said = 0;
  return (error) => {
    if (alike(error)) {
      if (Date.now() - said < everyMs) return;
      said = Date.now();
    }
    onError(error);
  };
}
