/**
 * The mock's simulated calls (SPEC §14): every agent takes calls as a Poisson process of `callsPerMin`,
 * and each call's outcome depends on the agent's config when the call started — the documented rule:
 * while the agent's config (any field, as JSON) holds `badMarker`, a call completes with probability
 * `badRate` (default 0.6), otherwise `goodRate` (default 0.9). A call that did not complete ended
 * `failed`, `no-answer` or `busy`; one still going is `in-progress` with no `ended_at`.
 *
 * Calls are not stored: those of an agent in a second of time are drawn from a generator seeded by
 * (seed, agent, second), so every read of an interval sees the same calls, and a call's outcome is read
 * from the agent's history of being "bad" (`noteConfig` on every change). Time starts at `startedAt`.
 */
import type { Agent } from '../api/types.js';
import { Random } from './random.js';
import { pageQuery } from './routes.js';

export interface CallSimOptions {
  /** Calls per minute per agent; 0 turns calls off. */
  callsPerMin: number;
  /** Text whose presence in an agent's config makes its calls complete less often. */
  badMarker?: string | undefined;
  goodRate?: number | undefined;
  badRate?: number | undefined;
  /** How long a call lasts, in ms (the same for every call: the mock's calls are short for tests). Default 2000. */
  callMs?: number | undefined;
  seed: number;
}

export interface SimulatedCall {
  id: string;
  initial_agent_id: string;
  agent_name: string;
  status: string;
  started_at: string;
  ended_at: string | null;
  duration_seconds: number | null;
  direction: 'INBOUND';
}

const NOT_COMPLETED = ['failed', 'no-answer', 'busy'] as const;

/** FNV-1a of a text: the seed of one agent's one second of calls. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A Poisson draw (Knuth's method: means here are small, a few calls per second at most). */
function poisson(random: Random, mean: number): number {
  const limit = Math.exp(-mean);
  let k = 0;
  for (let p = random.next(); p > limit; p *= random.next()) k++;
  return k;
}

export class CallSimulator {
  readonly #options: Required<Omit<CallSimOptions, 'badMarker'>> & { badMarker: string | undefined };
  /** Per agent key: times (ms) at which its config became bad or good, in order, with the state. */
  readonly #history = new Map<string, Array<{ at: number; bad: boolean }>>();
  readonly startedAt: number;

  constructor(options: CallSimOptions, now = Date.now()) {
    this.#options = { badMarker: options.badMarker, goodRate: options.goodRate ?? 0.9, badRate: options.badRate ?? 0.6, callMs: options.callMs ?? 2000, callsPerMin: options.callsPerMin, seed: options.seed };
    this.startedAt = now;
  }

  get enabled(): boolean {
    return this.#options.callsPerMin > 0;
  }

  /** The agent's config as it is from `at` on (its creation, or a change applied then). */
  noteConfig(key: string, agent: Agent, at = Date.now()): void {
    const marker = this.#options.badMarker;
    const bad = marker !== undefined && marker !== '' && JSON.stringify(agent).includes(marker);
    const history = this.#history.get(key) ?? [];
    if (history.length === 0 || history.at(-1)!.bad !== bad) history.push({ at, bad });
    this.#history.set(key, history);
  }

  #badAt(key: string, at: number): boolean {
    const history = this.#history.get(key);
    let bad = false;
    for (const step of history ?? []) {
      if (step.at > at) break;
      bad = step.bad;
    }
    return bad;
  }

  /** Every call of these agents that started in [from, to) and by `now`, oldest first. */
  calls(agents: ReadonlyArray<{ key: string; id: string; name: string }>, from: number, to: number, now = Date.now()): SimulatedCall[] {
    if (!this.enabled) return [];
    const { callsPerMin, callMs, goodRate, badRate, seed } = this.#options;
    const start = Math.max(from, this.startedAt);
    const end = Math.min(to, now);
    const out: SimulatedCall[] = [];
    for (let second = Math.floor(start / 1000); second * 1000 < end; second++) {
      for (const agent of agents) {
        const random = new Random(hash(`${seed}:${agent.key}:${second}`));
        const count = poisson(random, callsPerMin / 60);
        for (let i = 0; i < count; i++) {
          const startedAt = second * 1000 + Math.floor(random.next() * 1000);
          const completes = random.next() < (this.#badAt(agent.key, startedAt) ? badRate : goodRate);
          const failure = NOT_COMPLETED[random.int(NOT_COMPLETED.length)]!;
          if (startedAt < start || startedAt >= end) continue;
          const endedAt = startedAt + callMs;
          const over = endedAt <= now;
          out.push({
            id: `call-${hash(`${agent.key}:${startedAt}:${i}`).toString(16)}-${second.toString(36)}${i}`,
            initial_agent_id: agent.id,
            agent_name: agent.name,
            status: over ? (completes ? 'completed' : failure) : 'in-progress',
            started_at: new Date(startedAt).toISOString(),
            ended_at: over ? new Date(endedAt).toISOString() : null,
            duration_seconds: over ? callMs / 1000 : null,
            direction: 'INBOUND',
          });
        }
      }
    }
    return out.sort((a, b) => (a.started_at < b.started_at ? -1 : a.started_at > b.started_at ? 1 : a.id < b.id ? -1 : 1));
  }
}

/**
 * The answer to `GET /org/{org_id}/calls?agent_id&start_date&end_date&status&page&size` for an org's
 * agents: its calls that started in [start_date, end_date), oldest first, 100 at most a page.
 */
export function callsReply(sim: CallSimulator, agents: ReadonlyArray<{ key: string; id: string; name: string }>, query: URLSearchParams, now = Date.now()): { status: number; body: unknown } {
  const paging = pageQuery(query);
  if (typeof paging === 'string') return { status: 400, body: { detail: paging } };
  const date = (name: string, fallback: number): number | string => {
    const text = query.get(name);
    if (text === null) return fallback;
    const at = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : NaN;
    return Number.isNaN(at) ? `${name}: not an ISO 8601 date-time: ${text.slice(0, 40)}` : at;
  };
  const from = date('start_date', 0);
  const to = date('end_date', now);
  if (typeof from === 'string') return { status: 400, body: { detail: from } };
  if (typeof to === 'string') return { status: 400, body: { detail: to } };
  const agentId = query.get('agent_id');
  const status = query.get('status');
  const all = sim.calls(agents.filter((a) => agentId === null || a.id === agentId), from, to, now).filter((call) => status === null || call.status === status);
  const { page, size } = paging;
  return { status: 200, body: { data: all.slice((page - 1) * size, page * size), meta: { page, size, total: all.length, total_pages: Math.ceil(all.length / size) } } };
}
