/**
 * `nova-fleet restore --to TIME|BATCH [--agents FILE | --org ORG…] [--force] [--run]`: every agent back
 * to its state at that time (ops/restore.ts); exit 1 if any is a conflict or failed.
 */
import { restoreBatch, runRestore, type RestoreFlags } from '../ops/restore.js';
import { endOfRun } from './run.js';
import type { Output } from './output.js';
import { untilSignal } from './signals.js';
import { describeView } from './view-text.js';

export async function restoreCommand(flags: RestoreFlags, out: Output, until: Promise<unknown> = untilSignal()): Promise<number | void> {
  if (flags.run) return endOfRun(out, await runRestore(flags, out, until, (view) => out.result(describeView(view), view)));
  const summary = await restoreBatch(flags, out);
  out.result(summary?.batchId ?? 'nothing to restore', summary ?? { batchId: null, total: 0 });
}
