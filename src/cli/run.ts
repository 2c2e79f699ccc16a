/**
 * `nova-fleet run MANIFEST [submit flags]`: submit plus an in-process worker, with a live progress
 * bar, until the batch ends (ops/run.ts). Exit 0 if no agent failed; 1 otherwise (or if halted or
 * interrupted); 3 if the batch was halted for its infrastructure.
 */
import { runManifest, type RunOutcome } from '../ops/run.js';
import type { SubmitFlags } from '../ops/submit.js';
import { describeView } from './view-text.js';
import type { Output } from './output.js';
import { untilSignal } from './signals.js';

export async function runCommand(file: string, flags: SubmitFlags, out: Output, until: Promise<unknown> = untilSignal()): Promise<number> {
  // The batch's result is printed as it ends, before an automatic rollback is worked.
  return endOfRun(out, await runManifest(file, flags, out, until, (view) => out.result(describeView(view), view)));
}

/** The automatic rollback's view, said after it (the batch's own result is printed as it ended). */
export function endOfRun(out: Output, outcome: RunOutcome): number {
  if (outcome.rollback) out.note(describeView(outcome.rollback));
  return outcome.exitCode;
}
