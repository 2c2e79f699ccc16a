/**
 * `nova-fleet submit MANIFEST [--batch ID] [--rate N] [--concurrency N] [--attempts N]`: validate,
 * create the batch, enqueue its jobs, print its id. The same --batch id submitted again enqueues
 * nothing new; workers (`nova-fleet worker`, on any machine) do the work.
 */
import { DEFAULTS } from '../config.js';
import { checkBatchId, generateBatchId } from '../engine/batch-id.js';
import { submitBatch, type SubmitResult } from '../engine/submit.js';
import type { BatchOptions, RolloutControls } from '../store/batch-store.js';
import { resolveBudget, resolveWaves, type BudgetSpec, type WaveSpec } from '../engine/rollout-plan.js';
import { UsageError } from '../errors.js';
import { openStore, type ApiFlags, type RedisFlags, type StoreContext } from './context.js';
import { manifestOptions, requireValidManifest, type ManifestFlags } from './manifest-gate.js';
import type { Output } from './output.js';

export interface SubmitFlags extends ManifestFlags, RedisFlags, ApiFlags {
  batch?: string;
  attempts?: number;
  /** Staged rollout (SPEC §9), as parsed by commander (rollout-plan.ts). */
  waves?: WaveSpec[];
  bake?: number;
  approve?: boolean;
  maxFailures?: BudgetSpec;
  autoRollback?: boolean;
  /** Maintenance window (SPEC §9): epoch ms and a window spec, parsed by commander. */
  startAt?: number;
  window?: string;
  deadline?: number;
  verifyCmd?: string;
  notify?: string;
  /** (run) Prometheus metrics on this port. */
  metricsPort?: number;
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
  const total = report.summary.agents;
  if ((flags.bake || flags.approve) && !flags.waves) throw new UsageError('--bake and --approve act between waves: give --waves too', 'e.g. --waves 1,5%,25%,100% --bake 10m');
  if (flags.autoRollback && !flags.maxFailures) throw new UsageError('--auto-rollback acts when the error budget is exceeded: give --max-failures too');
  let waves: number[] | undefined;
  try {
    waves = flags.waves ? resolveWaves(flags.waves, total) : undefined;
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (for ${total} agents)`);
  }
  const controls: RolloutControls = {
    ...(waves ? { waves } : {}),
    ...(flags.bake ? { bakeMs: flags.bake } : {}),
    ...(flags.approve ? { approve: true } : {}),
    ...(flags.maxFailures ? { maxFailures: resolveBudget(flags.maxFailures, total) } : {}),
    ...(flags.autoRollback ? { autoRollback: true } : {}),
    ...(flags.startAt !== undefined ? { startAt: flags.startAt } : {}),
    ...(flags.window ? { window: flags.window } : {}),
    ...(flags.deadline !== undefined ? { deadline: flags.deadline } : {}),
    ...(flags.verifyCmd ? { verifyCmd: flags.verifyCmd } : {}),
    ...(flags.notify ? { notifyUrl: flags.notify } : {}),
  };
  if (flags.verifyCmd && !flags.waves) throw new UsageError('--verify-cmd runs between waves: give --waves too', 'e.g. --waves 5%,100% --verify-cmd "./check-calls.sh"');
  if (flags.deadline !== undefined && flags.startAt !== undefined && flags.deadline <= flags.startAt) throw new UsageError('--deadline must come after --start-at');
  out.note(`submit: ${total} agents from ${file} → batch ${batchId} (Redis ${ctx.target.source}, prefix ${ctx.config.prefix})`);
  if (controls.waves) out.note(`submit: waves of ${controls.waves.join(' → ')} agents${controls.bakeMs ? `, ${controls.bakeMs / 1000}s bake` : ''}${controls.approve ? ', approval after each' : ''}`);
  if (controls.startAt !== undefined || controls.window || controls.deadline !== undefined) {
    out.note(`submit: requests ${controls.startAt !== undefined ? `from ${new Date(controls.startAt).toISOString()} ` : ''}${controls.window ? `inside "${controls.window}" ` : ''}${controls.deadline !== undefined ? `until ${new Date(controls.deadline).toISOString()} (then the rest is skipped)` : ''}`.trim());
  }
  if (controls.maxFailures !== undefined) out.note(`submit: error budget ${controls.maxFailures} failed agent${controls.maxFailures === 1 ? '' : 's'}${controls.autoRollback ? ', then automatic rollback' : ''}`);
  const result = await submitBatch({ store: ctx.store, file, manifestOptions: manifestOptions(flags), batchId, options, controls });
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
