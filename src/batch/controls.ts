/**
 * What shapes a rollout when it is created (SPEC §9) — waves, bake, approval, the error budget and
 * automatic rollback, the schedule, verification and notification — from what was asked, checked as a
 * whole (pure): a flag that needs another is refused, naming both, before anything is created.
 */
import { UsageError } from '../errors.js';
import type { CallsGate, RolloutControls } from './records.js';
import { resolveBudget, resolveWaves, type BudgetSpec, type WaveSpec } from './waves.js';

/** The controls as asked for (the flags of `submit`, `run` and `apply`, parsed by commander). */
export interface ControlRequest {
  /** Staged rollout: cumulative wave targets, the bake between waves (ms), approval after each. */
  waves?: WaveSpec[];
  bake?: number;
  approve?: boolean;
  /** With --approve: the submitter may not approve (SPEC §16). */
  fourEyes?: boolean;
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
  /** Waves judged by the agents' calls (SPEC §14), and the rule's knobs. */
  gate?: 'calls';
  /** Percentage points. */
  maxDrop?: number;
  confidence?: number;
  minCalls?: number;
  /** ms */
  gateTimeout?: number;
  gateMaxPages?: number;
}

/** The calls gate's defaults (SPEC §14). */
export const GATE_DEFAULTS = { maxDropPoints: 5, confidence: 0.95, minCalls: 100, bakeMs: 10 * 60_000, timeoutBakes: 3, maxPages: 50 } as const;

/** The calls gate asked for, checked; undefined without `--gate`. */
function callsGate(asked: ControlRequest, bakeMs: number): CallsGate | undefined {
  const knobs = (['maxDrop', 'confidence', 'minCalls', 'gateTimeout', 'gateMaxPages'] as const).filter((k) => asked[k] !== undefined);
  if (!asked.gate) {
    if (knobs.length > 0) throw new UsageError(`--${knobs[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} sets the calls gate: give --gate calls too`);
    return undefined;
  }
  if (!asked.waves) throw new UsageError('--gate calls judges each wave against the agents not yet changed: give --waves too', 'e.g. --waves 10%,100% --gate calls --bake 15m');
  const maxDrop = asked.maxDrop ?? GATE_DEFAULTS.maxDropPoints;
  if (!(maxDrop >= 0 && maxDrop < 100)) throw new UsageError(`--max-drop ${maxDrop}: give percentage points from 0 to below 100 (5 = five points)`);
  const confidence = asked.confidence ?? GATE_DEFAULTS.confidence;
  if (!(confidence >= 0.5 && confidence < 1)) throw new UsageError(`--confidence ${confidence}: give a probability from 0.5 to below 1 (0.95)`);
  return {
    kind: 'calls',
    maxDrop: maxDrop / 100,
    confidence,
    minCalls: asked.minCalls ?? GATE_DEFAULTS.minCalls,
    timeoutMs: asked.gateTimeout ?? GATE_DEFAULTS.timeoutBakes * bakeMs,
    maxPages: asked.gateMaxPages ?? GATE_DEFAULTS.maxPages,
  };
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
  if (asked.fourEyes && !asked.approve) throw new UsageError('--four-eyes is about who approves each wave: give --approve too', 'e.g. --waves 10%,100% --approve --four-eyes');
  if (asked.autoRollback && !asked.maxFailures && !asked.gate) throw new UsageError('--auto-rollback acts when the error budget is exceeded or the calls gate fails: give --max-failures or --gate calls too');
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
  // With a calls gate, a wave bakes 10 minutes unless told: calls need time to happen.
  const bakeMs = asked.bake ?? (asked.gate ? GATE_DEFAULTS.bakeMs : undefined);
  const gate = callsGate(asked, bakeMs ?? 0);
  return {
    ...(waves ? { waves } : {}),
    ...(bakeMs ? { bakeMs } : {}),
    ...(asked.approve ? { approve: true } : {}),
    ...(asked.fourEyes ? { fourEyes: true } : {}),
    ...(asked.maxFailures ? { maxFailures: resolveBudget(asked.maxFailures, total) } : {}),
    ...(asked.autoRollback ? { autoRollback: true } : {}),
    ...(asked.startAt !== undefined ? { startAt: asked.startAt } : {}),
    ...(asked.window ? { window: asked.window } : {}),
    ...(asked.deadline !== undefined ? { deadline: asked.deadline } : {}),
    ...(asked.verifyCmd ? { verifyCmd: asked.verifyCmd } : {}),
    ...(asked.verifyEnv?.length ? { verifyEnv: asked.verifyEnv } : {}),
    ...(asked.notify ? { notifyUrl: asked.notify } : {}),
    ...(gate ? { gate, holdCompletion: true } : {}),
  };
}
