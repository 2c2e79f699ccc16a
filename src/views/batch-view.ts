/**
 * A batch as operators look at it: counts, progress, rate, ETA and the top failure reasons. Read-only;
 * shared by `status`, `batches`, `run`, the dashboard and the demo (cli/view-text.ts renders it).
 */
import type { BatchStore, WorkerInfo } from '../store/batch-store.js';
import { FINAL_BATCH_STATUSES } from '../batch/lifecycle.js';
import type { BatchMeta, Counts } from '../batch/records.js';
import { nextChange, windowSpec } from '../batch/window.js';
import { maskUrl, verifyState } from '../controller/hooks.js';
import { storedAnalyses } from '../controller/calls-gate.js';
import type { WaveAnalysis } from '../batch/wave-analysis.js';
import type { RequestCounts } from '../batch/records.js';

/** A heartbeat older than this means the worker is gone (a few missed polls of ~1 s). */
const WORKER_STALE_MS = 15_000;

export interface BatchView {
  meta: BatchMeta;
  counts: Counts;
  done: number;
  /** Agents finished per second since the batch was created (or over the watch interval). */
  rate: number;
  /** Seconds left at that rate, when it can be told. */
  etaSeconds: number | undefined;
  topFailures: Array<{ reason: string; count: number }>;
  /** What an operator must know to get an unfinished batch moving: no worker, a verification waiting. */
  attention: string[];
  /** When a window that is shut opens next (for a batch waiting for it). */
  nextOpening?: number;
  /** The API requests the batch sent, by kind, and per agent it changed (SPEC §15). */
  requests: RequestCounts & { total: number; perChanged?: number };
  /** A calls gate's judgements so far, wave by wave (SPEC §14). */
  analyses?: WaveAnalysis[];
}

/** Live workers, read once per view (or per list of views). */
export async function liveWorkers(store: BatchStore): Promise<WorkerInfo[]> {
  return store.liveWorkers((await store.now()) - WORKER_STALE_MS);
}

/** SPEC §13: nobody working is visible — who serves the batch, and what it waits for. */
async function attentionFor(store: BatchStore, meta: BatchMeta, workers: WorkerInfo[]): Promise<string[]> {
  if (FINAL_BATCH_STATUSES.has(meta.status) || meta.status === 'paused' || meta.status === 'halted') return [];
  const serving = workers.filter((w) => w.batches === undefined || w.batches.includes(meta.id));
  const notes: string[] = [];
  if (serving.length === 0) {
    notes.push(`no live worker serves this batch, so nothing happens: start \`nova-fleet worker\` (any machine on this Redis) or \`nova-fleet resume ${meta.id} --run\``);
  }
  if (meta.verifyCmd && meta.waves && meta.waveDoneAt !== undefined) {
    const wave = meta.wave ?? 0;
    const state = await verifyState(store, meta.id, wave);
    if (state === 'running') notes.push(`verifying wave ${wave + 1}: ${meta.verifyCmd}`);
    else if (state === 'none' && !serving.some((w) => w.runVerify)) {
      notes.push(`wave ${wave + 1} is done and its verification waits for a worker allowed to run it: start \`nova-fleet worker --run-verify\` (or \`nova-fleet resume ${meta.id} --run\`)`);
    }
  }
  return notes;
}

export function doneOf(counts: Counts): number {
  return counts.applied + counts.unchanged + counts.failed + counts.skipped + counts.restored + counts.conflict;
}

/** Strip ids and numbers so that failures group by their kind, not by their agent. */
export function failureReason(error: string): string {
  return error
    .replace(/\/org\/[^/\s]+\/agents\/[^:\s]+/g, '/org/…/agents/…')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '…')
    .slice(0, 160);
}

/** Reads at most `limit` failed agents' errors (a huge batch of failures is sampled, not loaded). */
export async function topFailures(store: BatchStore, batchId: string, limit = 2000): Promise<Array<{ reason: string; count: number }>> {
  const reasons = new Map<string, number>();
  let read = 0;
  for await (const pairs of store.scanStatuses(batchId)) {
    for (const [key, status] of pairs) {
      if (status !== 'failed' || read >= limit) continue;
      read++;
      const error = (await store.agentError(batchId, key)) ?? 'unknown';
      const reason = failureReason(error);
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    if (read >= limit) break;
  }
  return [...reasons].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count).slice(0, 5);
}

export async function viewBatch(store: BatchStore, meta: BatchMeta, sample?: { done: number; at: number }, workers?: WorkerInfo[]): Promise<BatchView> {
  const counts = await store.counts(meta.id);
  const done = doneOf(counts);
  const now = Date.now();
  const rate = sample && now > sample.at ? ((done - sample.done) * 1000) / (now - sample.at) : (done * 1000) / Math.max(1, (meta.finishedAt ?? now) - meta.createdAt);
  // Only while it runs: a batch waiting (for approval, its window, its start, a resume) has no ETA —
  // its agents wait on a person or a clock, not on the rate ("ETA 46m" while waiting for approval).
  // Never sooner than the batch's rate allows (SPEC §15): at the rate that limits it, the last minute's
  // speed (a burst of agents found unchanged, one GET each) says nothing of the requests left.
  const requests = requestFigures(await store.requestCounts(meta.id), counts);
  const perAgent = done > 0 && requests.total > 0 ? requests.total / done : 2;
  const byRate = (counts.pending * perAgent) / meta.options.rate;
  const etaSeconds = meta.status === 'running' && counts.pending > 0 && rate > 0 ? Math.round(Math.max(counts.pending / rate, byRate)) : undefined;
  const unfinished = !FINAL_BATCH_STATUSES.has(meta.status);
  const attention = unfinished ? await attentionFor(store, meta, workers ?? (await liveWorkers(store))) : [];
  // A window shut since submit has no recorded next opening: it is computed here.
  const nextOpening =
    meta.window && (meta.status === 'waiting_window' || meta.status === 'scheduled')
      ? meta.windowNext !== undefined && meta.windowNext > now
        ? meta.windowNext
        : nextChange(windowSpec(meta.window), Math.max(now, meta.startAt ?? 0))
      : undefined;
  // A view is for showing: the notify URL (often a secret in its path or query) is masked.
  const shown = meta.notifyUrl ? { ...meta, notifyUrl: maskUrl(meta.notifyUrl) } : meta;
  const analyses = meta.gate ? await storedAnalyses(store, meta.id) : undefined;
  return { meta: shown, counts, done, rate, etaSeconds, topFailures: counts.failed > 0 ? await topFailures(store, meta.id) : [], attention, requests, ...(nextOpening !== undefined ? { nextOpening } : {}), ...(analyses ? { analyses } : {}) };
}

/** The requests by kind, their total, and per agent changed (applied, or restored by a rollback). */
export function requestFigures(requests: RequestCounts, counts: Counts): BatchView['requests'] {
  const total = requests.get + requests.patch + requests.list + requests.calls;
  const changed = counts.applied + counts.restored;
  return { ...requests, total, ...(changed > 0 ? { perChanged: total / changed } : {}) };
}

/** Every batch of the prefix with its view, oldest first (`status`, `batches`, the dashboard). */
export async function viewAllBatches(store: BatchStore): Promise<BatchView[]> {
  const out: BatchView[] = [];
  const workers = await liveWorkers(store);
  for (const id of await store.listBatchIds()) {
    const meta = await store.getBatch(id);
    if (meta) out.push(await viewBatch(store, meta, undefined, workers));
  }
  return out;
}
