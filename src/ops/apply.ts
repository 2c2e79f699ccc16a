/**
 * `nova-fleet apply PLAN.json [submit flags] [--run] [--force] [--max-age 24h]` (SPEC §12): submits
 * exactly a reviewed plan — each changing agent's planned desired values, with the values the plan saw
 * as its precondition, so an agent changed since is a `conflict` left alone (`--force` applies anyway).
 * An edited, cut-short or stale plan is refused (exit 2) before anything is created. The plan becomes
 * a temporary JSON manifest and goes through the same validation and submit as any manifest; the batch
 * is named after the plan file and keyed by its digest, so applying it again carries on with the same
 * batch instead of applying twice.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { checkBatchId } from '../batch/batch-id.js';
import { chooseBatch, type OnCreated, type SubmitResult } from './create-batch.js';
import { UsageError } from '../errors.js';
import { agentKey } from '../store/keys.js';
import { PlanFileError, readPlanFile, type PlanHeader } from '../plan/plan-file.js';
import { directiveInPlan, plannedRow } from '../plan/plan-rows.js';
import { JsonManifestWriter } from '../manifest/json-writer.js';
import { fileDigest } from '../user-files.js';
import { openStore, type StoreContext } from './context.js';
import { runWith, type RunOutcome } from './run.js';
import type { BatchView } from '../views/batch-view.js';
import { manifestOptions, requireValidManifest } from './manifest-gate.js';
import type { Notes } from './notes.js';
import { submitSource, submitSummary, type SubmitFlags, type SubmitSummary } from './submit.js';

export interface ApplyFlags extends SubmitFlags {
  /** Apply planned agents that changed since the plan, rather than leaving them as conflicts. */
  force?: boolean;
  /** A plan older than this (ms) is refused. Default 24 h. */
  maxAge?: number;
  /** Work the batch here, with progress, until it ends (as `run`). */
  run?: boolean;
  /** How recent a list row must be to PATCH an agent without a GET (ms; default 30 s, SPEC §15). */
  freshness?: number;
}

export const DEFAULT_MAX_AGE_MS = 24 * 3600_000;

/** Submits the plan; undefined when it changes no agent (nothing to apply). */
export async function applyWith(ctx: StoreContext, planFile: string, flags: ApplyFlags, notes: Notes, onCreated?: OnCreated): Promise<SubmitResult | undefined> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nova-fleet-apply-'));
  try {
    const rows = path.join(dir, 'planned.json');
    const { header, changing, unchanged } = await writePlannedRows(planFile, rows, Boolean(flags.force));
    const age = Date.now() - Date.parse(header.created_at);
    const maxAge = flags.maxAge ?? DEFAULT_MAX_AGE_MS;
    if (age > maxAge) throw new UsageError(`${planFile} was made ${describeAge(age)} ago, more than --max-age ${describeAge(maxAge)}: the agents may have moved on since`, `plan again (\`nova-fleet plan ${header.manifest} --out ${planFile}\`), or give a longer --max-age`);
    if (age < -5 * 60_000) throw new UsageError(`${planFile} says it was made in the future (${header.created_at})`, 'check the clock of the machine that made it, and plan again');
    if (changing === 0) {
      notes.note(`apply: ${planFile} changes no agent: nothing to apply`);
      return undefined;
    }
    notes.note(`apply: ${changing} agent${changing === 1 ? '' : 's'} planned from ${header.manifest} at ${header.created_at}${flags.force ? ' (--force: applied even where they changed since)' : '; any changed since is left alone as a conflict'}${unchanged.length > 0 ? `; ${unchanged.length} the plan found unchanged are recorded so, without a request` : ''}`);
    const options = { ...manifestOptions(flags), format: 'json' as const, planned: true };
    const report = await requireValidManifest(rows, flags, notes, options);
    const { preflight } = await import('./preflight.js');
    await preflight(ctx.config, report.summary.orgSamples, notes, { read: false }); // every org has a key, or exit 2
    const digest = await fileDigest(planFile);
    const target = await chooseBatch(ctx.store, planFile, digest, { ...(flags.batch ? { batchId: checkBatchId(flags.batch) } : {}), ...(flags.new ? { forceNew: true } : {}) });
    const source = { rows, options, report, dispose: async () => {}, settled: unchanged };
    const withRate = { ...flags, ...(flags.rate === undefined && header.options.rate !== undefined ? { rate: header.options.rate } : {}) };
    return await submitSource(ctx, planFile, source, digest, target, withRate, notes, onCreated, { planned: true, ...(flags.freshness !== undefined ? { freshnessMs: flags.freshness } : {}) });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The plan's changing agents as a JSON manifest (one row per line); refuses a malformed or edited plan. */
async function writePlannedRows(planFile: string, rowsFile: string, force: boolean): Promise<{ header: PlanHeader; changing: number; unchanged: string[] }> {
  const writer = new JsonManifestWriter(rowsFile);
  // The agents the plan found unchanged: recorded so in the batch, with no request (SPEC §15).
  const unchanged: string[] = [];
  let complete = false;
  try {
    const { header } = await readPlanFile(planFile, async (plan) => {
      const directive = directiveInPlan(plan);
      if (directive !== undefined) {
        throw new UsageError(`${planFile}: agent ${plan.org_id}/${plan.agent_id}: the planned value of ${directive} would be read as a directive — a plan holds literal values only (was it edited and sealed again?)`, 'make the plan again with `nova-fleet plan`; nothing was applied');
      }
      const row = plannedRow(plan, { force });
      if (row) await writer.add(row);
      else if (plan.status === 'unchanged') unchanged.push(agentKey(plan.org_id, plan.agent_id));
    });
    complete = true;
    return { header, changing: writer.rows, unchanged };
  } catch (error) {
    if (error instanceof PlanFileError) throw new UsageError(error.message, 'nothing was applied');
    throw error;
  } finally {
    await writer.close(complete);
  }
}

function describeAge(ms: number): string {
  if (ms >= 2 * 3600_000) return `${Math.round(ms / 3600_000)} h`;
  if (ms >= 2 * 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 1000)} s`;
}

/** What `apply` without `--run` reports: the batch as `submit` does, or nothing to apply. */
export type ApplySummary = SubmitSummary | { batchId: null; total: 0 };

/** `apply PLAN`: the plan's batch created and enqueued (workers do the work). */
export async function applyPlan(planFile: string, flags: ApplyFlags, notes: Notes): Promise<ApplySummary> {
  const ctx = await openStore(flags);
  try {
    const result = await applyWith(ctx, planFile, flags, notes);
    return result ? submitSummary(result) : { batchId: null, total: 0 };
  } finally {
    ctx.close();
  }
}

/** `apply PLAN --run`: the plan's batch created and worked here until it ends. */
export function runPlan(planFile: string, flags: ApplyFlags, notes: Notes, until: Promise<unknown>, onEnded?: (view: BatchView) => void): Promise<RunOutcome> {
  return runWith((ctx, onCreated) => applyWith(ctx, planFile, flags, notes, onCreated), flags, notes, until, onEnded);
}
