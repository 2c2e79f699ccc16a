/**
 * `nova-fleet rollback BATCH [--agents FILE] [--force] [--run]`: create a rollback batch that restores
 * every agent the batch changed (ops/rollback.ts). Without --run it is only enqueued (workers apply it);
 * with --run it is applied here with progress. Exit 1 if any agent conflicted or failed.
 */
import { rollbackBatch, type RollbackFlags } from '../ops/rollback.js';
import { describeView } from './view-text.js';
import type { Output } from './output.js';
import { untilSignal } from './signals.js';

export async function rollbackCommand(batchId: string, flags: RollbackFlags, out: Output, until: Promise<unknown> = untilSignal()): Promise<number> {
  const outcome = await rollbackBatch(batchId, flags, out, until);
  if (outcome.worked) out.result(describeView(outcome.view), outcome.view);
  else out.result(outcome.summary.batchId, outcome.summary);
  return outcome.exitCode;
}
