/**
 * The calls gate (SPEC §14): after a wave's bake, read the calls of the batch's orgs in the judged
 * interval — every page (100 rows), within each org key's budget, at most `maxPages` an org — split
 * them into cohorts (batch/cohorts.ts), judge them (batch/call-stats.ts), and keep the judgement with
 * the batch. Whichever worker claims the wave reads in the background, as a verification runs: the
 * controller's step only starts it and acts on the result (controller.ts `gateStep`).
 */
import type { NovaClient } from '../api/client.js';
import type { CallPage } from '../api/types.js';
import { judgeWave } from '../batch/call-stats.js';
import { buildCohorts, callsIntervals, type Cohorts, type CohortInput } from '../batch/cohorts.js';
import type { BatchMeta } from '../batch/records.js';
import { decodeAnalysis, encodeAnalysis, type WaveAnalysis } from '../batch/wave-analysis.js';
import type { BatchStore } from '../store/batch-store.js';
import { splitAgentKey } from '../store/keys.js';
import type { RateLimiter } from '../worker/rate-limiter.js';

/** Reads one page of an org's calls. */
export interface CallsReader {
  page(orgId: string, interval: { from: number; to: number }, page: number): Promise<CallPage>;
}

/** A worker's reader: each page waits for a slot of the batch's schedule and of the org key's (SPEC §10). */
export function callsReader(client: NovaClient, limiter: RateLimiter, stop?: AbortSignal, onRequest?: () => void): CallsReader {
  return {
    async page(orgId, interval, page) {
      await limiter.acquire(undefined, stop, client.keyIdFor(orgId));
      onRequest?.();
      return client.listCallsPage(orgId, interval, page, stop ? { signal: stop } : {});
    },
  };
}

const PENDING: ReadonlySet<string> = new Set(['pending']);

/** How long a worker may take to judge a wave before another may try. */
export const ANALYSIS_CLAIM_MS = 5 * 60_000;
/** After a failed read (the API away), the wave is tried again this much later. */
const ANALYSIS_RETRY_MS = 30_000;

/**
 * The batch's agents as the gate sees them: changed (with when), the control's (`control`: not yet
 * changed — `pending` for a gate between waves; `analyze` of a batch that ran without one also takes
 * the agents it did not change), and those changed at an unknown time.
 */
async function cohortAgents(store: BatchStore, batchId: string, control: ReadonlySet<string>): Promise<{ changedAt: Map<string, number>; unchanged: Set<string>; unplaced: number }> {
  const changedAt = new Map<string, number>();
  const unchanged = new Set<string>();
  let unplaced = 0;
  for await (const pairs of store.scanStatuses(batchId, 500)) {
    for (const [key, status] of pairs) {
      if (control.has(status)) unchanged.add(key);
      if (status !== 'applied') continue;
      // When the change reached the agent: the API's own `updated_at` in its reply to the PATCH — the
      // same clock as the calls' `started_at`. Without one, the agent is left out, never guessed.
      const at = Date.parse(String((await store.agentRecord(batchId, key))?.after?.updated_at ?? ''));
      if (Number.isNaN(at)) unplaced++;
      else changedAt.set(key, at);
    }
  }
  return { changedAt, unchanged, unplaced };
}

const add = (a: Cohorts, b: Cohorts): Cohorts => ({
  mode: a.mode,
  treated: { calls: a.treated.calls + b.treated.calls, completed: a.treated.completed + b.treated.completed },
  control: { calls: a.control.calls + b.control.calls, completed: a.control.completed + b.control.completed },
  outside: a.outside + b.outside,
  inProgress: a.inProgress + b.inProgress,
  unreadable: a.unreadable + b.unreadable,
});

/** Judges wave `wave` of a gated batch on the calls from its end (`waveDoneAt`) to `now`. */
export async function analyseWave(store: BatchStore, meta: BatchMeta, wave: number, reader: CallsReader, now: number, control: ReadonlySet<string> = PENDING): Promise<WaveAnalysis> {
  const { kind: _kind, ...rule } = meta.gate!;
  const agents = await cohortAgents(store, meta.id, control);
  const input: CohortInput = { changedAt: agents.changedAt, unchanged: agents.unchanged, from: Math.min(meta.waveDoneAt ?? now, now), to: now };
  const intervals = callsIntervals(input);
  let cohorts = buildCohorts(input, []);
  let requests = 0;
  let rows = 0;
  const truncated: string[] = [];
  const orgs = [...new Set([...agents.changedAt.keys(), ...agents.unchanged].map((key) => splitAgentKey(key).orgId))].sort();
  for (const orgId of orgs) {
    for (const read of intervals) {
      for (let page = 1; ; page++) {
        if (page > rule.maxPages) {
          if (!truncated.includes(orgId)) truncated.push(orgId);
          break;
        }
        const result = await reader.page(orgId, read, page);
        requests++;
        rows += result.data.length;
        cohorts = add(cohorts, buildCohorts(input, result.data.map((row) => ({ orgId, row }))));
        if (page >= result.meta.total_pages || result.data.length === 0) break;
      }
    }
  }
  const judged = judgeWave(cohorts.treated, cohorts.control, rule);
  return {
    ...judged,
    wave,
    at: now,
    interval: { from: input.from, to: input.to },
    mode: cohorts.mode,
    calls: { read: rows, outside: cohorts.outside, inProgress: cohorts.inProgress, unreadable: cohorts.unreadable, unplaced: agents.unplaced },
    requests,
    truncated,
    rule,
  };
}

/** The judgement of a wave kept with the batch, if any (read as untrusted). */
export async function storedAnalysis(store: BatchStore, batchId: string, wave: number): Promise<WaveAnalysis | undefined> {
  const json = (await store.analyses(batchId))[String(wave)];
  return json === undefined ? undefined : decodeAnalysis(json);
}

/** Every wave's judgement kept with the batch, in wave order (status, report, analyze, the dashboard). */
export async function storedAnalyses(store: BatchStore, batchId: string): Promise<WaveAnalysis[]> {
  return Object.values(await store.analyses(batchId))
    .map(decodeAnalysis)
    .filter((a): a is WaveAnalysis => a !== undefined)
    .sort((a, b) => a.wave - b.wave);
}

/**
 * Claims the wave and judges it in the background; the judgement lands with the batch. False if another
 * worker holds the claim. A failed read keeps the claim a while: the wave is tried again after it.
 */
export async function startAnalysis(store: BatchStore, meta: BatchMeta, wave: number, reader: CallsReader, onError: (error: Error) => void): Promise<boolean> {
  if (!(await store.claimAnalysis(meta.id, wave, ANALYSIS_CLAIM_MS))) return false;
  void (async () => {
    try {
      const analysis = await analyseWave(store, meta, wave, reader, await store.now());
      await store.saveAnalysis(meta.id, wave, encodeAnalysis(analysis));
      await store.releaseAnalysis(meta.id, wave);
    } catch (error) {
      onError(new Error(`batch ${meta.id}: the calls of wave ${wave + 1} could not be read (tried again in ${ANALYSIS_RETRY_MS / 1000} s): ${(error as Error).message}`));
      await store.releaseAnalysis(meta.id, wave, ANALYSIS_RETRY_MS).catch(() => {});
    }
  })();
  return true;
}
