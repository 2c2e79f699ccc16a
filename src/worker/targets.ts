/**
 * What one job must bring its agent to, decided without any request: a rollout's row patch applied to
 * the agent's first before snapshot, or a rollback's restore of the fields its origin touched — or a
 * final status at once (an invalid patch, a conflict since the origin). Used by processor.ts.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Agent, Json } from '../api/types.js';
import { carriesDesired, desiredState } from '../patch/desired.js';
import { fileRefs, resolvePatch } from '../patch/resolve.js';
import { checkRowPatch } from '../patch/row-patch.js';
import type { AgentStatus } from '../batch/lifecycle.js';
import type { ProcessorDeps } from './job-ports.js';
import { BadJobError, readJob, type AgentJobData, type AgentJobSpec } from '../batch/job.js';
import { Unrecoverable } from './job-signals.js';
import { conflictingFields, type Restoration } from '../batch/restore-plan.js';
import { isWritableField } from '../patch/fields.js';

/** A job's data read (batch/job.ts); one that cannot be read fails its agent at once, never retried. */
export function jobSpec(data: AgentJobData): AgentJobSpec {
  try {
    return readJob(data);
  } catch (error) {
    if (error instanceof BadJobError) throw new Unrecoverable(error.message);
    throw error;
  }
}

/** What the job must bring the agent to — or a final status decided without any request. */
export type Target = { desired: Record<string, Json>; changed: string[] } | { done: { status: AgentStatus; error?: string } };

/** Patches already checked (a digest-stored patch is one cached object for every job using it). */
const checked = new WeakSet<object>();

/** A rollout: the row's patch applied to the first before snapshot. */
export async function rolloutTarget(deps: ProcessorDeps, spec: AgentJobSpec, before: Agent): Promise<Target> {
  if (!spec.patch) throw new Unrecoverable("a rollout's job carries no patch");
  const rowPatch = 'inline' in spec.patch ? spec.patch.inline : await deps.patch(spec.patch.digest);
  // A job read from Redis is untrusted (rewritten by hand, a dashboard action, another version): its
  // patch passes the manifest's own checks before it can reach an agent (no read-only or unknown field).
  if (!checked.has(rowPatch)) {
    // Unknown keys of free-form objects were the operator's call at submit (--allow-unknown-keys).
    const { errors } = checkRowPatch(rowPatch, { allowUnknownKeys: true });
    if (errors.length > 0) return { done: { status: 'failed', error: `the job's patch is not valid (changed in Redis since submit?): ${errors.map((e) => `${e.path}: ${e.message}`).join('; ').slice(0, 500)}` } };
    checked.add(rowPatch);
  }
  const texts = new Map<string, string>();
  for (const ref of fileRefs(rowPatch)) texts.set(ref, await deps.file(ref));
  const desired = desiredState(before, resolvePatch(rowPatch, spec.vars, (ref) => texts.get(ref)!));
  if (!desired.ok) return { done: { status: 'failed', error: `patch cannot apply: ${desired.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}` } };
  return { desired: desired.desired, changed: Object.keys(desired.body) };
}

/** A rollback: the origin's touched fields back to its before snapshot, unless someone changed them since. */
export function rollbackTarget(deps: ProcessorDeps, plan: Extract<Restoration, { kind: 'restore' }>, before: Agent, current: Agent): Target {
  const { of, force } = deps.rollback!;
  const changed = plan.fields.filter((field) => !isDeepStrictEqual(before[field], plan.desired[field]));
  // Already as it was (restored by an earlier attempt of this job, or never different): no conflict.
  if (carriesDesired(current, plan.desired).length > 0 && !force) {
    // Judged on this job's first before snapshot, so a retry after our own PATCH is not a "conflict".
    const conflicts = conflictingFields(before, plan.expected);
    if (conflicts.length > 0) return { done: { status: 'conflict', error: `changed since batch ${of}: ${conflicts.join(', ')} (left alone; --force restores anyway)` } };
  }
  return { desired: plan.desired, changed };
}

/**
 * A rollback of an agent its origin did not record as changed, though a PATCH may have reached the API
 * (rollback.ts MAYBE_CHANGED): the fields in which the agent, as this rollback first read it (`seen`),
 * differs from the origin's before snapshot. Those the origin asked for (its job, kept with the record)
 * go back; one that is neither as before nor as asked is someone else's edit — a conflict, unless
 * forced. None differs: `unchanged`, checked.
 */
export async function checkTarget(deps: ProcessorDeps, plan: Extract<Restoration, { kind: 'check' }>, key: string, seen: Agent): Promise<Target> {
  const { of, force, origin } = deps.rollback!;
  const { before } = plan;
  const job = await origin?.job(key);
  const asked = job && origin ? await rolloutTarget({ ...deps, patch: origin.patch, file: origin.file }, jobSpec(job), before) : undefined;
  const wanted = asked && !('done' in asked) ? asked.desired : undefined;
  const fields = [...new Set([...Object.keys(before), ...Object.keys(seen)])].filter((field) => isWritableField(field) && !isDeepStrictEqual(seen[field], before[field]) && (!wanted || Object.hasOwn(wanted, field)));
  if (fields.length === 0) return { done: { status: 'unchanged', error: `checked: as before batch ${of} (recorded ${plan.status} there)` } };
  const others = fields.filter((field) => !wanted || !isDeepStrictEqual(seen[field], wanted[field]));
  if (others.length > 0 && !force) {
    return { done: { status: 'conflict', error: `recorded ${plan.status} by batch ${of}, yet ${others.join(', ')} differ${others.length === 1 ? 's' : ''} from its before snapshot${wanted ? ' and not as it asked' : ''} (left alone; --force restores)` } };
  }
  const absent = fields.filter((field) => !Object.hasOwn(before, field));
  if (absent.length > 0) return { done: { status: 'failed', error: `the agent had no ${absent.join(', ')} before batch ${of}, and a PATCH cannot remove a field` } };
  return { desired: Object.fromEntries(fields.map((field) => [field, before[field] as Json])), changed: fields };
}
