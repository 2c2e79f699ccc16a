/**
 * A batch as operators look at it: counts, progress, rate, ETA and the top failure reasons. Read-only;
 * shared by `status`, `batches`, `run` and the demo.
 */
import type { BatchMeta, BatchStore, Counts } from '../store/batch-store.js';

export interface BatchView {
  meta: BatchMeta;
  counts: Counts;
  done: number;
  /** Agents finished per second since the batch was created (or over the watch interval). */
  rate: number;
  /** Seconds left at that rate, when it can be told. */
  etaSeconds: number | undefined;
  topFailures: Array<{ reason: string; count: number }>;
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
      const error = (await store.redis.hget(store.keys.agent(batchId, key), 'error')) ?? 'unknown';
      const reason = failureReason(error);
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    if (read >= limit) break;
  }
  return [...reasons].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count).slice(0, 5);
}

export async function viewBatch(store: BatchStore, meta: BatchMeta, sample?: { done: number; at: number }): Promise<BatchView> {
  const counts = await store.counts(meta.id);
  const done = doneOf(counts);
  const now = Date.now();
  const rate = sample && now > sample.at ? ((done - sample.done) * 1000) / (now - sample.at) : (done * 1000) / Math.max(1, (meta.finishedAt ?? now) - meta.createdAt);
  const etaSeconds = counts.pending > 0 && rate > 0 ? Math.round(counts.pending / rate) : undefined;
  return { meta, counts, done, rate, etaSeconds, topFailures: counts.failed > 0 ? await topFailures(store, meta.id) : [] };
}

/** Every batch of the prefix with its view, oldest first (`status`, `batches`, the dashboard). */
export async function viewAllBatches(store: BatchStore): Promise<BatchView[]> {
  const out: BatchView[] = [];
  for (const id of await store.listBatchIds()) {
    const meta = await store.getBatch(id);
    if (meta) out.push(await viewBatch(store, meta));
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
      meta.status === 'waiting_window' && meta.windowNext ? `— next opening ${new Date(meta.windowNext).toISOString()}` : '',
    ];
    lines.push(`  schedule  ${parts.filter(Boolean).join(' ')}`);
  }
  if (meta.verifyCmd) lines.push(`  verify    after each wave: ${meta.verifyCmd}`);
  if (meta.maxFailures !== undefined) lines.push(`  budget    ${counts.failed}/${meta.maxFailures} failures allowed${meta.autoRollback ? ', automatic rollback' : ''}${meta.autoRollbackId ? ` (${meta.autoRollbackId})` : ''}`);
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
