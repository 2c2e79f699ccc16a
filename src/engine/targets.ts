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
import type { AgentStatus } from '../store/batch-store.js';
import type { AgentJob, ProcessorDeps } from './processor.js';
import { conflictingFields, type Restoration } from './rollback.js';

/** What the job must bring the agent to — or a final status decided without any request. */
export type Target = { desired: Record<string, Json>; changed: string[] } | { done: { status: AgentStatus; error?: string } };

/** Patches already checked (a digest-stored patch is one cached object for every job using it). */
const checked = new WeakSet<object>();

/** A rollout: the row's patch applied to the first before snapshot. */
export async function rolloutTarget(deps: ProcessorDeps, job: AgentJob, before: Agent): Promise<Target> {
  const rowPatch = job.data.i ?? (await deps.patch(job.data.p!));
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
  const desired = desiredState(before, resolvePatch(rowPatch, job.data.v ?? {}, (ref) => texts.get(ref)!));
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
