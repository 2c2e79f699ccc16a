/** The batch a command names, or exit 2 (its own module: `status` and `report` need it without BullMQ). */
import { UsageError } from '../errors.js';
import type { BatchStore } from '../store/batch-store.js';
import type { BatchMeta } from '../batch/records.js';

/** The batch's metadata, or exit 2 naming the prefix looked in (every command that takes a BATCH). */
export async function requireBatch(store: BatchStore, batchId: string): Promise<BatchMeta> {
  const meta = await store.getBatch(batchId);
  if (!meta) throw new UsageError(`no batch ${batchId} under prefix "${store.prefix}"`, 'list them with `nova-fleet batches`');
  return meta;
}
