/**
 * `nova-fleet submit MANIFEST [--batch ID] [--rate N] [--concurrency N] [--attempts N]`: validate,
 * create the batch, enqueue its jobs, print its id. The same --batch id submitted again enqueues
 * nothing new; workers (`nova-fleet worker`, on any machine) do the work.
 */
import { DEFAULTS } from '../config.js';
import { checkBatchId, generateBatchId } from '../engine/batch-id.js';
import { submitBatch, type SubmitResult } from '../engine/submit.js';
import type { BatchOptions } from '../store/batch-store.js';
import { openStore, type ApiFlags, type RedisFlags, type StoreContext } from './context.js';
import { manifestOptions, requireValidManifest, type ManifestFlags } from './manifest-gate.js';
import type { Output } from './output.js';

export interface SubmitFlags extends ManifestFlags, RedisFlags, ApiFlags {
  batch?: string;
  attempts?: number;
}

/** Defaults of a batch's retry policy (SPEC §5). */
export const RETRY_DEFAULTS = { attempts: 6, backoffMs: 1000, backoffCapMs: 60_000 } as const;

export async function submitWith(ctx: StoreContext, file: string, flags: SubmitFlags, out: Output): Promise<SubmitResult> {
  const report = await requireValidManifest(file, flags, out);
  const batchId = flags.batch ? checkBatchId(flags.batch) : generateBatchId(file);
  const options: BatchOptions = {
    rate: flags.rate ?? DEFAULTS.rate,
    attempts: flags.attempts ?? RETRY_DEFAULTS.attempts,
    backoffMs: RETRY_DEFAULTS.backoffMs,
    backoffCapMs: RETRY_DEFAULTS.backoffCapMs,
  };
  out.note(`submit: ${report.summary.agents} agents from ${file} → batch ${batchId} (Redis ${ctx.target.source}, prefix ${ctx.config.prefix})`);
  const result = await submitBatch({ store: ctx.store, file, manifestOptions: manifestOptions(flags), batchId, options });
  out.note(
    result.created
      ? `submit: batch ${batchId} created, ${result.enqueued} jobs enqueued`
      : `submit: batch ${batchId} already existed (${result.meta.status}); ${result.enqueued} job${result.enqueued === 1 ? '' : 's'} added`,
  );
  return result;
}

export async function submitCommand(file: string, flags: SubmitFlags, out: Output): Promise<void> {
  const ctx = await openStore(flags);
  try {
    const result = await submitWith(ctx, file, flags, out);
    out.result(result.batchId, { batchId: result.batchId, created: result.created, total: result.total, enqueued: result.enqueued, status: result.meta.status });
  } finally {
    ctx.close();
  }
}
