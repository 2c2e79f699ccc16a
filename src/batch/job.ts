/**
 * One agent's job: named fields for the code that reads it, a compact wire form for Redis (BullMQ's job
 * data, a later wave's held jobs, the job kept with a failed record for `retry`) — and the one place
 * that turns either into the other. A new manifest column reaches the worker as a field here
 * (`AgentJobSpec`, `AgentJobData`, `jobFromRow`, `readJob`) and its use. Pure.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { Agent, Json } from '../api/types.js';
import type { RowPatch } from '../patch/types.js';

/** A job as the worker reads it. */
export interface AgentJobSpec {
  /** `org_id/agent_id`. */
  agentKey: string;
  /** The manifest line, for messages (0 for a rollback's job). */
  line: number;
  /** The row's patch: inline when small, else named by its digest in the batch's patch store. A rollback's job has none. */
  patch?: { inline: RowPatch } | { digest: string };
  /** The row's template variables. */
  vars: Record<string, string>;
  /** The row's preconditions (SPEC §11), checked on the agent right before the PATCH. */
  expect?: Record<string, Json>;
  /**
   * An applied plan's agent (SPEC §15): the `updated_at` the plan read it at. Its snapshot is kept with
   * the batch; while the list endpoint still shows this time, the PATCH goes without a GET.
   */
  plannedAt?: string;
}

/** The wire form: short keys, since a batch keeps one of these per agent in Redis. Written by every version since 0.1. */
export interface AgentJobData {
  k: string;
  l: number;
  p?: string;
  i?: RowPatch;
  v?: Record<string, string>;
  e?: Record<string, Json>;
  u?: string;
}

/** What a manifest row gives its job. */
export interface JobRow {
  line: number;
  patch: RowPatch;
  vars: Record<string, string>;
  expect?: Record<string, Json> | undefined;
  planned?: { before: Agent } | undefined;
}

/**
 * Patches at least this long (JSON) are stored once per batch and named by digest in each job — a
 * fleet-wide prompt is kept once, not copied into 100k jobs. Smaller ones travel inside the job.
 */
export const INLINE_PATCH_BYTES = 256;

export function patchDigest(patchJson: string): string {
  return createHash('sha256').update(patchJson).digest('base64url').slice(0, 22);
}

/**
 * Deterministic job id: re-submitting adds nothing new. BullMQ refuses `:` in ids (and ids may hold
 * `:`), and integer-looking ids, hence a letter and a hash.
 */
export function jobId(agentKey: string): string {
  return `a${createHash('sha1').update(agentKey).digest('hex').slice(0, 32)}`;
}

/** A rollout's job for one row; `digest` names its patch when the patch is stored apart. */
export function jobFromRow(agentKey: string, row: JobRow, digest?: string): AgentJobData {
  const data: AgentJobData = digest ? { k: agentKey, l: row.line, p: digest } : { k: agentKey, l: row.line, i: row.patch };
  if (Object.keys(row.vars).length > 0) data.v = row.vars;
  if (row.expect) data.e = row.expect;
  if (typeof row.planned?.before.updated_at === 'string') data.u = row.planned.before.updated_at;
  return data;
}

/** A rollback's job: the agent only (what to restore is read from the origin's records). */
export function restoreJob(agentKey: string): AgentJobData {
  return { k: agentKey, l: 0 };
}

/** A job's data that cannot be read (written by hand or by another version): its agent fails, nothing is sent. */
export class BadJobError extends Error {
  override readonly name = 'BadJobError';
}

/** The wire form's schema: a job read back from Redis is untrusted (written by hand, or by another version). */
const WIRE = z.object({
  k: z.string().min(1),
  l: z.number().int().nonnegative(),
  p: z.string().min(1).optional(),
  i: z.record(z.string(), z.unknown()).optional(),
  v: z.record(z.string(), z.string()).optional(),
  e: z.record(z.string(), z.unknown()).optional(),
  u: z.string().min(1).max(100).optional(),
});

/** The wire form read back, each field checked for its type. */
export function readJob(data: AgentJobData): AgentJobSpec {
  const parsed = WIRE.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new BadJobError(`the job's data is not readable (${issue.path.join('.') || 'the job'}: ${issue.message})`);
  }
  const { k, l, p, i, v, e, u } = parsed.data;
  return {
    agentKey: k,
    line: l,
    ...(i !== undefined ? { patch: { inline: i as RowPatch } } : p !== undefined ? { patch: { digest: p } } : {}),
    vars: v ?? {},
    ...(e !== undefined ? { expect: e as Record<string, Json> } : {}),
    ...(u !== undefined ? { plannedAt: u } : {}),
  };
}
