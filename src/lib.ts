/**
 * The library entry (`import { … } from 'nova-fleet'`, SPEC §12): the commands as functions, for
 * scripts, over the same operations as the commands (src/ops/) — but nothing exits the process and
 * nothing is printed: each returns, typed, the data the command prints with `--json` plus its exit
 * code, operator notes go to `onNote` (or nowhere), and failures are thrown as typed errors
 * (UsageError: bad input, nothing done; InfraError: Redis or the API unavailable). Configuration is
 * read as the commands read it: the options below, then NOVA_* environment variables and the config file.
 */
import type { Notes } from './ops/notes.js';
import type { ValidationReport } from './manifest/validate.js';
import type { PlanOutcome } from './ops/plan.js';
import type { SubmitFlags, SubmitSummary } from './ops/submit.js';
import type { ApplyFlags } from './ops/apply.js';
import type { RunOutcome } from './ops/run.js';
import type { BatchEntry } from './ops/status.js';
import type { RollbackSummary } from './ops/rollback.js';
import type { BatchView } from './views/batch-view.js';

export { defineMigration, type Migration, type MigrationPatch, type MigrationSpec } from './migrate/define.js';
export { ExitError, InfraError, UsageError, EXIT_CODES, type ExitCode } from './errors.js';
export type { Agent, Json } from './api/types.js';
export type { Selector } from './select/selector.js';
export type { ValidationReport } from './manifest/validate.js';
export type { AgentPlan, PlanSummary } from './plan/plan.js';
export type { PlanOutcome, SubmitSummary, BatchEntry, RollbackSummary, BatchView };
export type { ApplySummary } from './ops/apply.js';

export interface CommonOptions {
  /** Redis key prefix (default NOVA_FLEET_PREFIX, then nova-fleet). */
  prefix?: string;
  /** A config file other than ./nova-fleet.config.json. */
  config?: string;
  /** API requests per second. */
  rate?: number;
  concurrency?: number;
  /** How the key is sent (default auto). */
  auth?: 'auto' | 'x-api-key' | 'bearer';
  /** A keys file: one `org_id=key` line per org. */
  keys?: string;
  /** The commands' notes to the operator (progress, what was done), one line each. */
  onNote?: (line: string) => void;
  /** Stops a `run` (apply with `run: true`, rollback with `run: true`) as Ctrl-C would. */
  signal?: AbortSignal;
}

export interface RollbackOptions {
  /** A CSV of `org_id,agent_id`: only these agents are rolled back. */
  agents?: string;
  /** Restore even agents changed since the batch (conflicts overridden). */
  force?: boolean;
  /** Work the rollback here until it ends. */
  run?: boolean;
}

export interface ManifestOptions {
  format?: 'csv' | 'json' | 'ndjson';
  allowFilesOutside?: boolean;
  allowUnknownKeys?: boolean;
}

/** What a command returns: the data it prints with --json, and its exit code (0, 1; 2 and 3 are thrown). */
export type Result<T> = T & { exitCode: number };

/** A plan that changes no agent: nothing was created. */
export interface NothingToApply {
  batchId: null;
  total: 0;
}

/** Notes to `onNote`, or nowhere: the library prints nothing (a batch worked here shows no progress bar). */
function notesOf(options: CommonOptions): Notes {
  return { note: (line) => options.onNote?.(line) };
}

/** Resolves when `signal` aborts: a `run: true` stops as on Ctrl-C. */
function untilAborted(options: CommonOptions): Promise<unknown> {
  return new Promise<unknown>((resolve) => {
    if (options.signal?.aborted) resolve(undefined);
    options.signal?.addEventListener('abort', resolve, { once: true });
  });
}

/** A batch worked here: the batch as it ended (nothing, for a plan with nothing to apply). */
function worked(outcome: RunOutcome): Result<BatchView> | Result<NothingToApply> {
  return outcome.view ? { ...outcome.view, exitCode: outcome.exitCode } : { batchId: null, total: 0, exitCode: outcome.exitCode };
}

/** Validates a manifest offline; the report says what is wrong (`ok`, `issues`), nothing is thrown for a bad manifest. */
export async function validate(file: string, options: ManifestOptions = {}): Promise<ValidationReport> {
  const { validateManifest } = await import('./manifest/validate.js');
  const { manifestOptions } = await import('./ops/manifest-gate.js');
  return validateManifest(file, manifestOptions(options));
}

/** Plans a manifest or a migration module (GET only); `out` writes the plan for `apply`. */
export async function plan(file: string, options: CommonOptions & ManifestOptions & { out?: string } = {}): Promise<PlanOutcome> {
  const { planChanges } = await import('./ops/plan.js');
  return planChanges(file, options, notesOf(options));
}

/** Creates the batch of a manifest and enqueues its jobs (workers do the work). */
export async function submit(file: string, options: CommonOptions & ManifestOptions & SubmitFlags = {}): Promise<Result<SubmitSummary>> {
  const { submitManifest } = await import('./ops/submit.js');
  return { ...(await submitManifest(file, options, notesOf(options))), exitCode: 0 };
}

/** Submits exactly a plan; `run: true` works it here until it ends and resolves with the batch as it ended. */
export async function apply(planFile: string, options: CommonOptions & ApplyFlags & { run: true }): Promise<Result<BatchView> | Result<NothingToApply>>;
export async function apply(planFile: string, options?: CommonOptions & ApplyFlags): Promise<Result<SubmitSummary> | Result<NothingToApply>>;
export async function apply(planFile: string, options: CommonOptions & ApplyFlags = {}): Promise<Result<SubmitSummary> | Result<BatchView> | Result<NothingToApply>> {
  const { applyPlan, runPlan } = await import('./ops/apply.js');
  if (options.run) return worked(await runPlan(planFile, options, notesOf(options), untilAborted(options)));
  return { ...(await applyPlan(planFile, options, notesOf(options))), exitCode: 0 };
}

/** One batch's counts, rate and top failures; without an id, every batch (`batches`). */
export async function status(batchId: string, options?: CommonOptions): Promise<Result<BatchView>>;
export async function status(batchId?: undefined, options?: CommonOptions): Promise<Result<{ batches: BatchEntry[] }>>;
export async function status(batchId?: string, options: CommonOptions = {}): Promise<Result<BatchView> | Result<{ batches: BatchEntry[] }>> {
  const { batchStatus, listBatches } = await import('./ops/status.js');
  if (batchId === undefined) return { batches: await listBatches(options), exitCode: 0 };
  return { ...(await batchStatus(batchId, options)), exitCode: 0 };
}

/** Rolls a batch back to its before snapshots; `run: true` works it here and resolves with the rollback as it ended. */
export async function rollback(batchId: string, options: CommonOptions & RollbackOptions & { run: true }): Promise<Result<BatchView>>;
export async function rollback(batchId: string, options?: CommonOptions & RollbackOptions): Promise<Result<RollbackSummary>>;
export async function rollback(batchId: string, options: CommonOptions & RollbackOptions = {}): Promise<Result<RollbackSummary> | Result<BatchView>> {
  const { rollbackBatch } = await import('./ops/rollback.js');
  const outcome = await rollbackBatch(batchId, options, notesOf(options), untilAborted(options));
  return outcome.worked ? { ...outcome.view, exitCode: outcome.exitCode } : { ...outcome.summary, exitCode: outcome.exitCode };
}
