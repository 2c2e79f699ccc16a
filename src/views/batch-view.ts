/**
 * A batch as operators look at it: counts, progress, rate, ETA and the top failure reasons. Read-only;
 * shared by `status`, `batches`, `run` and the demo.
 */
import { FINAL_BATCH_STATUSES, type BatchMeta, type BatchStore, type Counts, type WorkerInfo } from '../store/batch-store.js';
import { nextChange, windowSpec } from '../batch/window.js';
import { maskUrl, verifyState } from '../controller/hooks.js';

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
  const etaSeconds = meta.status === 'running' && counts.pending > 0 && rate > 0 ? Math.round(counts.pending / rate) : undefined;
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
  return { meta: shown, counts, done, rate, etaSeconds, topFailures: counts.failed > 0 ? await topFailures(store, meta.id) : [], attention, ...(nextOpening !== undefined ? { nextOpening } : {}) };
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

export function describeView(view: BatchView): string {
  const { meta, counts } = view;
  const total = meta.total || 1;
  const lines = [
    `batch ${meta.id} (${meta.kind}) — ${meta.status}${meta.haltReason ? `: ${meta.haltReason}` : ''}`,
    `  manifest  ${meta.manifest}`,
    `  created   ${new Date(meta.createdAt).toISOString()}${meta.finishedAt ? `, finished ${new Date(meta.finishedAt).toISOString()}` : ''}`,
    `  progress  ${view.done}/${meta.total}${meta.enqueued ? '' : ' (still enqueueing)'} (${Math.floor((view.done / total) * 100)}%), ${view.rate.toFixed(1)} agents/s${view.etaSeconds !== undefined ? `, ETA ${formatDuration(view.etaSeconds)}` : ''}`,
    `  agents    ${Object.entries(counts)
      .filter(([, n]) => n > 0)
      .map(([s, n]) => `${s} ${n}`)
      .join(', ') || 'none'}`,
    `  rate      up to ${meta.options.rate} requests/s, ${meta.options.attempts} attempts per agent`,
  ];
  if (meta.waves) {
    const wave = meta.wave ?? 0;
    const waiting =
      meta.status === 'waiting_approval'
        ? ` — waiting for \`nova-fleet approve ${meta.id}\``
        : meta.waveDoneAt && meta.bakeMs
          ? ` — done, baking until ${new Date(meta.waveDoneAt + meta.bakeMs).toISOString()}`
          : '';
    lines.push(`  wave      ${wave + 1}/${meta.waves.length} (up to ${meta.waves[wave]} agents; targets ${meta.waves.join(' → ')})${waiting}`);
  }
  if (meta.startAt !== undefined || meta.window || meta.deadline !== undefined) {
    const parts = [
      meta.startAt !== undefined ? `from ${new Date(meta.startAt).toISOString()}` : '',
      meta.window ? `inside "${meta.window}"` : '',
      meta.deadline !== undefined ? `until ${new Date(meta.deadline).toISOString()}` : '',
      view.nextOpening !== undefined ? `— next opening ${new Date(view.nextOpening).toISOString()}` : '',
    ];
    lines.push(`  schedule  ${parts.filter(Boolean).join(' ')}`);
  }
  if (meta.verifyCmd) lines.push(`  verify    after each wave: ${meta.verifyCmd}`);
  if (meta.authSchemes) lines.push(`  auth      ${Object.entries(meta.authSchemes).map(([org, scheme]) => `${org} ${scheme === 'bearer' ? 'Authorization: Bearer' : 'X-API-Key'}`).join(', ')}`);
  for (const [org, message] of Object.entries(meta.blockedOrgs ?? {})) {
    lines.push(`  blocked   org ${org}: the API refused its key (${message}); its agents wait — fix the key, then \`nova-fleet resume ${meta.id}\``);
  }
  if (meta.maxFailures !== undefined) lines.push(`  budget    ${counts.failed}/${meta.maxFailures} failures allowed${meta.autoRollback ? ', automatic rollback' : ''}${meta.autoRollbackId ? ` (${meta.autoRollbackId})` : ''}`);
  for (const note of view.attention) lines.push(`  attention ${note}`);
  if (view.topFailures.length > 0) {
    lines.push('  top failure reasons:');
    for (const f of view.topFailures) lines.push(`    ${String(f.count).padStart(6)}  ${f.reason}`);
  }
  return lines.join('\n');
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}
