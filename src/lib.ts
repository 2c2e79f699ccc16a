/**
 * The library entry (`import { … } from 'nova-fleet'`, SPEC §12): the commands as functions, for
 * scripts. The same behaviour as the commands — they are the commands, with their output captured —
 * but nothing exits the process and nothing is printed: each returns the data the command prints with
 * `--json` plus its exit code, operator notes go to `onNote`, and failures are thrown as typed errors
 * (UsageError: bad input, nothing done; InfraError: Redis or the API unavailable). Configuration is
 * read as the commands read it: the options below, then NOVA_* environment variables and the config file.
 */
import type { Output } from './cli/output.js';

export { defineMigration, type Migration, type MigrationPatch, type MigrationSpec } from './migrate/define.js';
export { ExitError, InfraError, UsageError, EXIT_CODES, type ExitCode } from './errors.js';
export type { Agent, Json } from './api/types.js';
export type { Selector } from './select/selector.js';
export type { ValidationReport } from './manifest/validate.js';
export type { AgentPlan, PlanSummary } from './plan/plan.js';

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

export interface ManifestOptions {
  format?: 'csv' | 'json' | 'ndjson';
  allowFilesOutside?: boolean;
  allowUnknownKeys?: boolean;
}

/** What a command returns: the data it prints with --json, and its exit code (0, 1; 2 and 3 are thrown). */
export type Result<T = Record<string, unknown>> = T & { exitCode: number };

async function call(options: CommonOptions, command: (out: Output, until: Promise<unknown>) => Promise<number | void>): Promise<Result> {
  let data: Record<string, unknown> = {};
  const out: Output = {
    json: true,
    result: (_human, value) => {
      data = (typeof value === 'object' && value !== null ? value : { value }) as Record<string, unknown>;
    },
    note: (line) => options.onNote?.(line),
  };
  const until = new Promise<unknown>((resolve) => options.signal?.addEventListener('abort', resolve, { once: true }));
  const code = await command(out, until);
  return { ...data, exitCode: typeof code === 'number' ? code : 0 };
}

/** Validates a manifest offline; the report says what is wrong (`ok`, `issues`), nothing is thrown for a bad manifest. */
export async function validate(file: string, options: ManifestOptions = {}): Promise<import('./manifest/validate.js').ValidationReport> {
  const { validateManifest } = await import('./manifest/validate.js');
  const { manifestOptions } = await import('./cli/manifest-gate.js');
  return validateManifest(file, manifestOptions(options));
}

/** Plans a manifest or a migration module (GET only); `out` writes the plan for `apply`. */
export async function plan(file: string, options: CommonOptions & ManifestOptions & { out?: string } = {}): Promise<Result> {
  const { planCommand } = await import('./cli/plan.js');
  return call(options, (out) => planCommand(file, options, out));
}

/** Creates the batch of a manifest and enqueues its jobs (workers do the work). */
export async function submit(file: string, options: CommonOptions & ManifestOptions & import('./cli/submit.js').SubmitFlags = {}): Promise<Result> {
  const { submitCommand } = await import('./cli/submit.js');
  return call(options, (out) => submitCommand(file, options, out));
}

/** Submits exactly a plan (`run: true` works it here until it ends). */
export async function apply(planFile: string, options: CommonOptions & import('./cli/apply.js').ApplyFlags = {}): Promise<Result> {
  const { applyCommand } = await import('./cli/apply.js');
  return call(options, (out, until) => applyCommand(planFile, options, out, until));
}

/** One batch's counts, rate and top failures, or every batch without an id. */
export async function status(batchId?: string, options: CommonOptions = {}): Promise<Result> {
  const { statusCommand } = await import('./cli/status.js');
  return call(options, (out) => statusCommand(batchId, options, out));
}

/** Rolls a batch back to its before snapshots (`run: true` works it here). */
export async function rollback(batchId: string, options: CommonOptions & { agents?: string; force?: boolean; run?: boolean } = {}): Promise<Result> {
  const { rollbackCommand } = await import('./cli/rollback.js');
  return call(options, (out, until) => rollbackCommand(batchId, options, out, until));
}
