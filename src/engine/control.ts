/**
 * Operator controls of a batch: pause, resume, cancel, retry. Each is a status transition in Redis
 * (so every worker on every machine obeys it) plus the matching action on the batch's queue.
 */
import { UsageError } from '../errors.js';
import { FINAL_BATCH_STATUSES, type BatchMeta, type BatchStatus, type BatchStore } from '../store/batch-store.js';
import { batchQueue, jobOptions, type AgentJobData } from './jobs.js';

/** The batch's metadata, or exit 2 naming the prefix looked in (every command that takes a BATCH). */
export async function requireBatch(store: BatchStore, batchId: string): Promise<BatchMeta> {
  const meta = await store.getBatch(batchId);
  if (!meta) throw new UsageError(`no batch ${batchId} under prefix "${store.keys.prefix}"`, 'list them with `nova-fleet batches`');
  return meta;
}

function refuse(meta: BatchMeta, action: string): never {
  throw new UsageError(`batch ${meta.id} is ${meta.status}: it cannot be ${action}`);
}

/** Pause: no new job of the batch starts; requests in flight finish. */
export async function pauseBatch(store: BatchStore, batchId: string): Promise<BatchMeta> {
  const meta = await requireBatch(store, batchId);
  if (meta.status === 'paused') return meta;
  if (!(await store.transition(batchId, 'paused', ['running', 'scheduled', 'waiting_window', 'waiting_approval']))) refuse(meta, 'paused');
  const queue = batchQueue(store.redis, store.keys, batchId);
  try {
    await queue.pause();
  } finally {
    await queue.close();
  }
  return (await store.getBatch(batchId))!;
}

export interface ResumeOptions {
  /** After an error-budget halt: go on with no budget at all. */
  overrideBudget?: boolean;
  /** After an error-budget halt: go on with this higher budget (failures allowed). */
  maxFailures?: number;
}

/**
 * Resume a paused batch; or one halted for bad credentials (once the key is fixed); or one halted by
 * its error budget — only with `overrideBudget` or a budget above the failures so far.
 */
export async function resumeBatch(store: BatchStore, batchId: string, options: ResumeOptions = {}): Promise<BatchMeta> {
  const meta = await requireBatch(store, batchId);
  if (meta.status === 'running') return meta;
  const reason = meta.haltReason ?? '';
  const budgetHalt = meta.status === 'halted' && reason.startsWith('error_budget');
  if (budgetHalt) {
    const failed = (await store.counts(batchId)).failed;
    if (!options.overrideBudget && (options.maxFailures === undefined || options.maxFailures < failed)) {
      throw new UsageError(`batch ${batchId} was halted by its error budget (${reason})`, `resume with --override-budget, or --max-failures N with N ≥ ${failed}`);
    }
    await store.setMeta(batchId, { max_failures: options.overrideBudget ? '' : options.maxFailures! });
  } else if (meta.status !== 'paused' && !(meta.status === 'halted' && reason.startsWith('bad_credentials'))) {
    refuse(meta, 'resumed');
  }
  if (!(await store.transition(batchId, 'running', [meta.status], { auth_failures: 0, halt_reason: '' }))) refuse(meta, 'resumed');
  const queue = batchQueue(store.redis, store.keys, batchId);
  try {
    await queue.resume();
  } finally {
    await queue.close();
  }
  await store.completeIfDone(batchId);
  return (await store.getBatch(batchId))!;
}

/**
 * Cancel: the batch ends; jobs not started are removed and their agents become `skipped`. An agent
 * whose request is already in flight ends as what really happened to it (see processor.ts).
 */
export async function cancelBatch(store: BatchStore, batchId: string): Promise<{ meta: BatchMeta; skipped: number }> {
  const meta = await requireBatch(store, batchId);
  if (FINAL_BATCH_STATUSES.has(meta.status)) refuse(meta, 'cancelled');
  if (!(await store.transition(batchId, 'cancelled', [meta.status]))) refuse(meta, 'cancelled');
  await store.setMeta(batchId, { finished_at: Date.now() });
  const queue = batchQueue(store.redis, store.keys, batchId);
  try {
    await queue.pause();
  } finally {
    await queue.close();
  }
  const skipped = await skipRemaining(store, meta, 'batch cancelled');
  return { meta: (await store.getBatch(batchId))!, skipped };
}

/**
 * Ends what has not started (cancel, deadline): jobs waiting or delayed are removed, later waves' held
 * jobs too, and their agents become `skipped`. An agent in flight ends as what really happens to it.
 */
export async function skipRemaining(store: BatchStore, meta: BatchMeta, reason: string): Promise<number> {
  const queue = batchQueue(store.redis, store.keys, meta.id);
  try {
    await queue.drain(true);
  } finally {
    await queue.close();
  }
  for (let wave = (meta.wave ?? 0) + 1; meta.waves && wave < meta.waves.length; wave++) await store.redis.del(store.keys.held(meta.id, wave));
  let skipped = 0;
  for await (const pairs of store.scanStatuses(meta.id)) {
    for (const [key, status] of pairs) {
      if (status === 'pending' && (await store.finish(meta.id, key, 'skipped', 'pending', { error: reason }))) skipped++;
    }
  }
  await store.completeIfDone(meta.id);
  return skipped;
}

/** Approve: a batch waiting for approval (`--approve`) may start its next wave. */
export async function approveBatch(store: BatchStore, batchId: string): Promise<BatchMeta> {
  const meta = await requireBatch(store, batchId);
  if (!meta.waves || !meta.approve) throw new UsageError(`batch ${batchId} was not submitted with --approve`);
  if (meta.status !== 'waiting_approval') refuse(meta, 'approved (it is not waiting for approval)');
  await store.setMeta(batchId, { approved_wave: meta.wave ?? 0 });
  return (await store.getBatch(batchId))!;
}

/** Retry: every failed agent of the batch goes back to pending and is enqueued again. */
export async function retryBatch(store: BatchStore, batchId: string): Promise<{ meta: BatchMeta; retried: number }> {
  const meta = await requireBatch(store, batchId);
  const reopenable: BatchStatus[] = ['completed_with_failures', 'completed'];
  if (meta.status === 'cancelled') refuse(meta, 'retried');
  const queue = batchQueue(store.redis, store.keys, batchId);
  let retried = 0;
  try {
    // Reopen first, so that the first retried agent to finish does not find the batch already final.
    // Written before it is listed again for the workers' poll (see BatchStore.dropIfFinal).
    if (reopenable.includes(meta.status) && (await store.transition(batchId, 'running', reopenable))) await store.markActive(batchId, meta.createdAt);
    for await (const pairs of store.scanStatuses(batchId)) {
      const jobs: Array<{ name: string; data: AgentJobData; opts: ReturnType<typeof jobOptions> }> = [];
      for (const [key, status] of pairs) {
        if (status !== 'failed') continue;
        const job = await store.retryJob<AgentJobData>(batchId, key);
        if (job) jobs.push({ name: 'agent', data: job, opts: jobOptions(key, meta.options) });
      }
      if (jobs.length > 0) await queue.addBulk(jobs);
      retried += jobs.length;
    }
  } finally {
    await queue.close();
  }
  await store.completeIfDone(batchId);
  return { meta: (await store.getBatch(batchId))!, retried };
}
