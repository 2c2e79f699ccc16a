/** What is going on, read-only: one batch's view, or every batch's (`status`, `batches`, the library). */
import type { BatchMeta, Counts } from '../batch/records.js';
import { doneOf, viewAllBatches, viewBatch, type BatchView } from '../views/batch-view.js';
import { openStore, type RedisFlags } from './context.js';
import { requireBatch } from './require-batch.js';

/** A batch in a list: its metadata and counts. */
export type BatchEntry = BatchMeta & { counts: Counts };

/** Every batch's view, oldest first (`batches`, `status` without an id). */
export async function batchViews(flags: RedisFlags): Promise<BatchView[]> {
  const ctx = await openStore(flags, { readOnly: true });
  try {
    return await viewAllBatches(ctx.store);
  } finally {
    ctx.close();
  }
}

export async function listBatches(flags: RedisFlags): Promise<BatchEntry[]> {
  return (await batchViews(flags)).map((v) => ({ ...v.meta, counts: v.counts }));
}

/** One batch's view (exit 2 if there is no such batch). */
export async function batchStatus(batchId: string, flags: RedisFlags): Promise<BatchView> {
  const ctx = await openStore(flags, { readOnly: true });
  try {
    const view = await viewBatch(ctx.store, await requireBatch(ctx.store, batchId));
    return { ...view, done: doneOf(view.counts) };
  } finally {
    ctx.close();
  }
}
