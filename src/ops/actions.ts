/**
 * Operator controls of a batch: pause, resume, cancel, retry. Each is a status transition in Redis
 * (so every worker on every machine obeys it) plus the matching action on the batch's queue.
 */
import { UsageError } from '../errors.js';
import type { BatchStore, MetaChange } from '../store/batch-store.js';
import { FINAL_BATCH_STATUSES, type BatchStatus } from '../batch/lifecycle.js';
import type { BatchMeta } from '../batch/records.js';
import { jobOptions, pauseQueueWhile } from '../store/job-queue.js';
import type { AgentJobData } from '../batch/job.js';
import { requireBatch } from './require-batch.js';
import { FROM } from '../batch/lifecycle.js';
import { haltRule } from '../batch/halt.js';
import { storedAnalysis } from '../controller/calls-gate.js';
import { encodeAnalysis } from '../batch/wave-analysis.js';

export { requireBatch };

function refuse(meta: BatchMeta, action: string): never {
  throw new UsageError(`batch ${meta.id} is ${meta.status}: it cannot be ${action}`);
}

/** Pause: no new job of the batch starts; requests in flight finish. */
export async function pauseBatch(store: BatchStore, batchId: string): Promise<BatchMeta> {
  const meta = await requireBatch(store, batchId);
  if (meta.status === 'paused') return meta;
  if (!(await store.transition(batchId, 'paused', FROM.pause))) refuse(meta, 'paused');
  await pauseQueueWhile(store, batchId, 'paused');
  return (await store.getBatch(batchId))!;
}

export interface ResumeOptions {
  /** After a calls-gate halt: the wave's judgement is overridden, the rollout goes on. */
  overrideGate?: boolean;
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
  if (meta.status === 'running') {
    // Running with orgs blocked for their keys: the keys were fixed, their agents go on now.
    if (meta.blockedOrgs) await unblock(store, batchId);
    return (await store.getBatch(batchId))!;
  }
  const reason = meta.haltReason ?? '';
  const lift = meta.status === 'halted' ? haltRule(meta)?.resume : undefined;
  if (lift === 'budget') {
    const failed = (await store.counts(batchId)).failed;
    if (!options.overrideBudget && (options.maxFailures === undefined || options.maxFailures < failed)) {
      throw new UsageError(`batch ${batchId} was halted by its error budget (${reason})`, `resume with --override-budget, or --max-failures N with N ≥ ${failed}`);
    }
    await store.setMeta(batchId, { maxFailures: options.overrideBudget ? null : options.maxFailures! });
  } else if (lift === 'gate') {
    if (!options.overrideGate) throw new UsageError(`batch ${batchId} was halted by its calls gate (${reason})`, 'look at `nova-fleet analyze ' + batchId + '`; go on anyway with `resume --override-gate`, or roll it back');
    await overrideGate(store, meta);
  } else if (meta.status !== 'paused' && lift !== 'plain') {
    refuse(meta, 'resumed');
  }
  // The auth count and the outage clock start again: a resumed batch gets the full allowance.
  if (!(await store.transition(batchId, 'running', [meta.status], { authFailures: 0, haltReason: null, outageSince: null }))) refuse(meta, 'resumed');
  await store.withQueue(batchId, (queue) => queue.resume());
  await unblock(store, batchId);
  await store.completeIfDone(batchId);
  return (await store.getBatch(batchId))!;
}

/** The halted wave's judgement marked overridden, so the controller goes on past it (kept, with its figures). */
async function overrideGate(store: BatchStore, meta: BatchMeta): Promise<void> {
  const wave = meta.wave ?? 0;
  const judged = await storedAnalysis(store, meta.id, wave);
  if (judged) await store.saveAnalysis(meta.id, wave, encodeAnalysis({ ...judged, verdict: 'overridden', why: `overridden by resume --override-gate (was ${judged.verdict}: ${judged.why})`.slice(0, 2000) }));
}

/** Lifts the orgs' blocks; their sleeping jobs are woken at once (not after their 30 s). */
async function unblock(store: BatchStore, batchId: string): Promise<void> {
  if ((await store.unblockOrgs(batchId)).length === 0) return;
  await store.withQueue(batchId, (queue) => queue.promoteJobs());
}

/**
 * Cancel: the batch ends; jobs not started are removed and their agents become `skipped`. An agent
 * whose request is already in flight ends as what really happened to it (see processor.ts).
 */
export async function cancelBatch(store: BatchStore, batchId: string): Promise<{ meta: BatchMeta; skipped: number }> {
  const meta = await requireBatch(store, batchId);
  if (FINAL_BATCH_STATUSES.has(meta.status)) refuse(meta, 'cancelled');
  if (!(await store.transition(batchId, 'cancelled', [meta.status]))) refuse(meta, 'cancelled');
  await store.setMeta(batchId, { finishedAt: Date.now() });
  const queue = store.queue(batchId);
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
  let skipped = 0;
  // Each skipped agent keeps its job (as a failed one does), so `retry --skipped` can run it later.
  const skip = async (data: AgentJobData) => {
    if (await store.finish(meta.id, data.k, 'skipped', 'pending', { error: reason, job: data })) skipped++;
  };
  const queue = store.queue(meta.id);
  try {
    for (let start = 0; ; start += 1000) {
      // Active ones too: a job waiting for its rate slot records its own skip only when the slot comes.
      const jobs = await queue.getJobs(['wait', 'delayed', 'prioritized', 'active'], start, start + 999, true);
      for (const job of jobs) if (job?.data) await skip(job.data);
      if (jobs.length < 1000) break;
    }
    await queue.drain(true);
  } finally {
    await queue.close();
  }
  for (let wave = (meta.wave ?? 0) + 1; meta.waves && wave < meta.waves.length; wave++) {
    for await (const items of store.heldJobs(meta.id, wave)) for (const data of items) await skip(data);
    await store.dropHeld(meta.id, wave);
  }
  // Whatever is still pending had its job taken by a worker meanwhile (which records it itself, job
  // included, when its gate sees the stop) or lost: skipped either way.
  for await (const pairs of store.scanStatuses(meta.id)) {
    for (const [key, status] of pairs) {
      if (status === 'pending' && (await store.finish(meta.id, key, 'skipped', 'pending', { error: reason }))) skipped++;
    }
  }
  await store.completeIfDone(meta.id);
  return skipped;
}

/** Approve: a batch waiting for approval (`--approve`) may start its next wave. */
export async function approveBatch(store: BatchStore, batchId: string, actor?: string): Promise<BatchMeta> {
  const meta = await requireBatch(store, batchId);
  if (!meta.waves || !meta.approve) throw new UsageError(`batch ${batchId} was not submitted with --approve`);
  if (meta.status !== 'waiting_approval') refuse(meta, 'approved (it is not waiting for approval)');
  // Four eyes (SPEC §16): whoever submitted the batch may not approve its waves.
  if (meta.fourEyes && actor !== undefined && actor === meta.submittedBy) {
    throw new UsageError(`batch ${batchId} was submitted with --four-eyes by ${actor}: its waves are approved by someone else`, 'ask another operator to run `nova-fleet approve` (NOVA_FLEET_ACTOR names who acts)');
  }
  await store.setMeta(batchId, { approvedWave: meta.wave ?? 0 });
  return (await store.getBatch(batchId))!;
}

/**
 * Retry: every failed agent of the batch — and with `skipped`, every agent skipped by a cancel or a
 * deadline — goes back to pending and is enqueued again. A finished batch is reopened; a cancelled one
 * only with `skipped` (that is what finishing it means), and a deadline that cut it is lifted.
 */
export interface RetryOptions {
  skipped?: boolean;
  force?: boolean;
  /** Finish in another window: the batch's window (SPEC §9 spec text, already parsed) is replaced. */
  window?: string;
  /** And a new deadline (epoch ms) in place of the batch's. */
  deadline?: number;
}

export async function retryBatch(store: BatchStore, batchId: string, options: RetryOptions = {}): Promise<{ meta: BatchMeta; retried: number; withoutJob: number }> {
  const meta = await requireBatch(store, batchId);
  const reopenable: readonly BatchStatus[] = options.skipped ? FROM.reopenSkipped : FROM.reopen;
  if (meta.status === 'cancelled' && !options.skipped) {
    throw new UsageError(`batch ${batchId} is cancelled: it cannot be retried as it is`, `\`nova-fleet retry ${batchId} --skipped\` finishes its skipped and failed agents`);
  }
  if (meta.deadlineSkipping) throw new UsageError(`batch ${batchId} is still skipping the agents its deadline cut`, 'try again in a moment (`nova-fleet status` shows when it is cancelled and done)');
  // --force: the conflicts too, and from now on later attempts overwrite what others changed since.
  const statuses: ReadonlyArray<'failed' | 'skipped' | 'conflict'> = ['failed', ...(options.skipped ? (['skipped'] as const) : []), ...(options.force ? (['conflict'] as const) : [])];
  if (options.force && meta.kind === 'rollout') await store.setMeta(batchId, { force: true });
  // Another window, another deadline: written with the reopening (or now, for a batch still going), so
  // that the agents wait for the new window, not the old one; the controller's next step follows it.
  const reschedule: MetaChange = {
    ...(options.window !== undefined ? { window: options.window, windowNext: null } : {}),
    ...(options.deadline !== undefined ? { deadline: options.deadline, deadlinePassed: null } : {}),
  };
  if (Object.keys(reschedule).length > 0 && !reopenable.includes(meta.status)) await store.setMeta(batchId, reschedule);
  const queue = store.queue(batchId);
  let retried = 0;
  let withoutJob = 0;
  let reopened = false;
  try {
    // Reopen first, so that the first retried agent to finish does not find the batch already final.
    // Written before it is listed again for the workers' poll (see BatchStore.dropIfFinal). Reopened as
    // not yet enqueued, as submit does: until every agent is back to pending, no finishing agent (a late
    // one of another worker) may complete the batch over agents not yet moved back.
    if (reopenable.includes(meta.status)) {
      // A deadline that cut the batch would cut it again at once: finishing it lifts the deadline.
      const lift: MetaChange = meta.status === 'cancelled' && meta.deadline !== undefined ? { deadline: null, deadlinePassed: null } : {};
      reopened = (await store.transition(batchId, 'running', reopenable, { haltReason: null, finishedAt: null, enqueued: false, ...lift, ...reschedule })) !== undefined;
      if (reopened) await store.markActive(batchId, meta.createdAt);
      if (meta.status === 'cancelled') await queue.resume(); // cancel paused the queue
    }
    for await (const pairs of store.scanStatuses(batchId)) {
      const jobs: Array<{ name: string; data: AgentJobData; opts: ReturnType<typeof jobOptions> }> = [];
      for (const [key, status] of pairs) {
        if (!(statuses as readonly string[]).includes(status)) continue;
        const job = await store.retryJob<AgentJobData>(batchId, key, status as (typeof statuses)[number]);
        if (job) jobs.push({ name: 'agent', data: job, opts: jobOptions(key, meta.options) });
        else withoutJob++;
      }
      if (jobs.length > 0) await queue.addBulk(jobs);
      retried += jobs.length;
    }
  } finally {
    // Also after an error: the agents not moved back are still failed or skipped, not pending. (Only a
    // batch this call reopened: a batch still being submitted is marked by its submit.)
    try {
      if (reopened) await store.markEnqueued(batchId);
    } finally {
      await queue.close();
    }
  }
  await store.completeIfDone(batchId);
  return { meta: (await store.getBatch(batchId))!, retried, withoutJob };
}
