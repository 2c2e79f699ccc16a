/**
 * Restore planning (pure): what a rollback must do for one agent, from the record its origin kept —
 * restore the touched fields, check an agent the origin did not record as changed against the API, do
 * nothing, or fail (no original to restore from). The rollback batch itself is made in
 * ops/create-rollback.ts; the job runs the plan (processor.ts, targets.ts).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Agent, Json } from '../api/types.js';
import { isWritableField } from '../patch/fields.js';
import type { AgentStatus } from './lifecycle.js';
import type { AgentRecord, BatchMeta } from './records.js';

/** The status an origin's changed agents carry: `applied` for a rollout, `restored` for a rollback. */
export function changedStatus(origin: BatchMeta): AgentStatus {
  return origin.kind === 'rollback' ? 'restored' : 'applied';
}

export type Restoration =
  | { kind: 'restore'; desired: Record<string, Json>; expected: Record<string, Json>; fields: string[] }
  /** Not recorded as changed, but a PATCH may have reached the API: compared with the agent as it is now. */
  | { kind: 'check'; before: Agent; status: AgentStatus }
  | { kind: 'nothing'; reason: string }
  | { kind: 'impossible'; reason: string };

/**
 * Statuses whose agent may have been changed although the record does not say so: a PATCH sent and its
 * reply lost or refused (failed), an attempt cut by a halt, a full or restarted Redis (pending), a
 * later attempt's conflict or skip after an earlier attempt's PATCH. Every one with a before snapshot
 * — taken before any PATCH — is checked against the agent as it is, never trusted (issue 25).
 */
export const MAYBE_CHANGED: ReadonlySet<AgentStatus> = new Set(['failed', 'pending', 'skipped', 'conflict']);

/** What restoring one agent means, from the origin's record of it (pure). */
export function restoration(originId: string, changed: AgentStatus, record: AgentRecord | undefined): Restoration {
  // Enqueued because the origin's record said it changed the agent: a record gone since (the origin
  // pruned or lost from Redis) is a failure to restore, never an `unchanged` agent.
  if (!record) return { kind: 'impossible', reason: `batch ${originId} has no record of this agent any more (pruned, or lost from Redis): no before snapshot to restore it from` };
  if (record.status !== changed && MAYBE_CHANGED.has(record.status) && record.before) return { kind: 'check', before: record.before, status: record.status };
  // Recorded as changed, its original gone (evicted, lost, an archive without it): a failure, never
  // "nothing to roll back" (issue 25: allkeys-lru made a rollback call 3,296 changed agents unchanged).
  if (record.status === changed && !record.before) return { kind: 'impossible', reason: `batch ${originId} recorded this agent ${changed}, but its before snapshot is missing (evicted or lost from Redis): nothing to restore it from` };
  if (record.status !== changed || !record.before || !record.after || !record.changed?.length) {
    return { kind: 'nothing', reason: `not changed by batch ${originId} (${record.status}): nothing to roll back` };
  }
  // Only fields a PATCH may send: an imported archive may name `id`, `tools` or any other field.
  const fields = record.changed.filter(isWritableField);
  if (fields.length === 0) return { kind: 'nothing', reason: `batch ${originId} changed no field a PATCH can restore (${record.changed.slice(0, 5).join(', ')})` };
  const absent = fields.filter((field) => !Object.hasOwn(record.before!, field));
  if (absent.length > 0) {
    return { kind: 'impossible', reason: `the agent had no ${absent.join(', ')} before batch ${originId}, and a PATCH cannot remove a field` };
  }
  const pick = (agent: Agent) => Object.fromEntries(fields.map((field) => [field, agent[field] as Json]));
  return { kind: 'restore', desired: pick(record.before), expected: pick(record.after), fields };
}

/** Fields of `current` that someone changed since the origin (they differ from its after snapshot). */
export function conflictingFields(current: Agent, expected: Record<string, Json>): string[] {
  return Object.keys(expected).filter((field) => !isDeepStrictEqual(current[field], expected[field]));
}
