/**
 * `nova-fleet apply PLAN.json [submit flags] [--run] [--force] [--max-age 24h]` (SPEC §12): submits
 * exactly a reviewed plan (ops/apply.ts); with --run works it here, as `run` does.
 */
import { applyPlan, runPlan, type ApplyFlags } from '../ops/apply.js';
import { describeView } from './view-text.js';
import type { Output } from './output.js';
import { untilSignal } from './signals.js';
import { endOfRun } from './run.js';

/** Exit 0/1/3 as `submit` (or `run` with --run); 2 for a refused plan. */
export async function applyCommand(planFile: string, flags: ApplyFlags, out: Output, until: Promise<unknown> = untilSignal()): Promise<number | void> {
  if (flags.run) return endOfRun(out, await runPlan(planFile, flags, out, until, (view) => out.result(describeView(view), view)));
  const summary = await applyPlan(planFile, flags, out);
  out.result(summary.batchId ?? 'nothing to apply', summary);
}
