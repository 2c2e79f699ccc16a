/**
 * What shapes a rollout when it is created (SPEC §9) — waves, bake, approval, the error budget and
 * automatic rollback, the schedule, verification and notification — from what was asked, checked as a
 * whole (pure): a flag that needs another is refused, naming both, before anything is created.
 */
import { UsageError } from '../errors.js';
import type { RolloutControls } from './records.js';
import { resolveBudget, resolveWaves, type BudgetSpec, type WaveSpec } from './waves.js';

/** The controls as asked for (the flags of `submit`, `run` and `apply`, parsed by commander). */
export interface ControlRequest {
  /** Staged rollout: cumulative wave targets, the bake between waves (ms), approval after each. */
  waves?: WaveSpec[];
  bake?: number;
  approve?: boolean;
  maxFailures?: BudgetSpec;
  autoRollback?: boolean;
  /** Maintenance window: epoch ms and a window spec. */
  startAt?: number;
  window?: string;
  deadline?: number;
  verifyCmd?: string;
  /** Variables the verify command gets from its worker's environment (names). */
  verifyEnv?: string[];
  notify?: string;
}

/** A deadline already past would skip every agent before one request: refused. */
export function requireFutureDeadline(deadline: number | undefined, now = Date.now()): void {
  if (deadline !== undefined && deadline <= now) {
    throw new UsageError(`--deadline ${new Date(deadline).toISOString()} has already passed: every agent would be skipped before one request`, 'give a time in the future (ISO 8601 with its offset, e.g. 2026-12-05T04:00:00+01:00)');
  }
}

/** The controls of a new rollout of `total` agents, or a UsageError naming what does not fit. */
export function rolloutControls(asked: ControlRequest, total: number, now = Date.now()): RolloutControls {
  if ((asked.bake || asked.approve) && !asked.waves) throw new UsageError('--bake and --approve act between waves: give --waves too', 'e.g. --waves 1,5%,25%,100% --bake 10m');
  if (asked.autoRollback && !asked.maxFailures) throw new UsageError('--auto-rollback acts when the error budget is exceeded: give --max-failures too');
  let waves: number[] | undefined;
  try {
    waves = asked.waves ? resolveWaves(asked.waves, total) : undefined;
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (for ${total} agents)`);
  }
  if (asked.verifyEnv?.length && !asked.verifyCmd) throw new UsageError('--verify-env names variables for --verify-cmd: give --verify-cmd too');
  if (asked.verifyCmd && !asked.waves) throw new UsageError('--verify-cmd runs between waves: give --waves too', 'e.g. --waves 5%,100% --verify-cmd "./check-calls.sh"');
  if (asked.deadline !== undefined && asked.startAt !== undefined && asked.deadline <= asked.startAt) throw new UsageError('--deadline must come after --start-at');
  requireFutureDeadline(asked.deadline, now);
  return {
    ...(waves ? { waves } : {}),
    ...(asked.bake ? { bakeMs: asked.bake } : {}),
    ...(asked.approve ? { approve: true } : {}),
    ...(asked.maxFailures ? { maxFailures: resolveBudget(asked.maxFailures, total) } : {}),
    ...(asked.autoRollback ? { autoRollback: true } : {}),
    ...(asked.startAt !== undefined ? { startAt: asked.startAt } : {}),
    ...(asked.window ? { window: asked.window } : {}),
    ...(asked.deadline !== undefined ? { deadline: asked.deadline } : {}),
    ...(asked.verifyCmd ? { verifyCmd: asked.verifyCmd } : {}),
    ...(asked.verifyEnv?.length ? { verifyEnv: asked.verifyEnv } : {}),
    ...(asked.notify ? { notifyUrl: asked.notify } : {}),
  };
}
