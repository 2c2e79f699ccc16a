/**
 * The BullMQ side of a batch: its queue (one per batch, so pause/resume are the queue's own and its
 * keys share the batch's hash tag) and the shape and id of an agent's job.
 */
import { createHash } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import type { RowPatch } from '../patch/types.js';
import type { BatchOptions, BatchStore } from '../store/batch-store.js';
import { QUEUE_NAME, type Keys } from '../store/keys.js';
import type { ScriptClient } from '../store/scripts.js';

/** One agent's job. Kept small: the patch is stored once per batch and named by its digest. */
export interface AgentJobData {
  /** Agent key `org_id/agent_id`. */
  k: string;
  /** Manifest line, for messages. */
  l: number;
  /** Digest of the row's patch in the batch's patch store (patches of INLINE_PATCH_BYTES or more). */
  p?: string;
  /** The row's patch itself, when it is small: storing it apart would cost more than it saves. */
  i?: RowPatch;
  /** The row's template variables, when it has any. */
  v?: Record<string, string>;
}

/**
 * Deterministic job id: re-submitting adds nothing new. BullMQ refuses `:` in ids (and ids may hold
 * `:`), and integer-looking ids, hence a letter and a hash.
 */
export function jobId(agentKey: string): string {
  return `a${createHash('sha1').update(agentKey).digest('hex').slice(0, 32)}`;
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
 * BullMQ keeps 10,000 events per queue by default; the batch's own keys hold every result, so a short
 * events stream (for live listeners such as dashboards) is enough, and Redis stays bounded by snapshots.
 */
export const EVENTS_MAX_LEN = 1000;

/**
 * Registers agents in a batch and enqueues the jobs of those that need one: new agents, and still
 * pending ones whose job is gone (an interrupted submit). Returns how many jobs were added.
 * Shared by submit and rollback; chunks may run concurrently (the total is an atomic increment).
 */
export async function enqueueAgents(store: BatchStore, queue: Queue<AgentJobData>, batchId: string, options: BatchOptions, items: ReadonlyArray<AgentJobData>): Promise<number> {
  const flags = await store.register(batchId, items.map((item) => item.k));
  const missing = await Promise.all(flags.map(async (flag, i) => flag === 'pending' && !(await queue.getJob(jobId(items[i]!.k)))));
  const jobs = items.flatMap((data, i) => (flags[i] === 'new' || missing[i] ? [{ name: 'agent', data, opts: jobOptions(data.k, options) }] : []));
  if (jobs.length > 0) await queue.addBulk(jobs);
  await store.addToTotal(batchId, flags.filter((f) => f === 'new').length);
  return jobs.length;
}

export function batchQueue(connection: ScriptClient, keys: Keys, batchId: string): Queue<AgentJobData> {
  return new Queue<AgentJobData>(QUEUE_NAME, { connection, prefix: keys.queuePrefix(batchId), streams: { events: { maxLen: EVENTS_MAX_LEN } } });
}

/** Completed and failed job records are removed: the batch's own keys hold the results (SPEC §7). */
export function jobOptions(agentKey: string, options: BatchOptions): JobsOptions {
  return {
    jobId: jobId(agentKey),
    attempts: options.attempts,
    backoff: { type: 'nova' },
    removeOnComplete: true,
    removeOnFail: true,
  };
}
