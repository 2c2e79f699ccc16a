/**
 * The BullMQ side of a batch: its queue (one per batch, so pause/resume are the queue's own and its
 * keys share the batch's hash tag), its jobs added, woken and paused (the job itself: batch/job.ts).
 */
import type { JobsOptions, Queue } from 'bullmq';
import type { BatchStore } from './batch-store.js';
import type { BatchOptions } from '../batch/records.js';
import { BATCH_ID } from './keys.js';

import { jobId, type AgentJobData } from '../batch/job.js';

/**
 * Registers agents in a batch and enqueues the jobs of those that need one: new agents, and still
 * pending ones whose job is gone (an interrupted submit). Returns how many jobs were added.
 * Shared by submit and rollback; chunks may run concurrently (the total is an atomic increment).
 */
export async function enqueueAgents(store: BatchStore, queue: Queue<AgentJobData>, batchId: string, options: BatchOptions, items: ReadonlyArray<AgentJobData>, onQueued?: () => void): Promise<number> {
  const flags = await store.register(batchId, items.map((item) => item.k));
  const missing = await Promise.all(flags.map(async (flag, i) => flag === 'pending' && !(await queue.getJob(jobId(items[i]!.k)))));
  const jobs = items.flatMap((data, i) => (flags[i] === 'new' || missing[i] ? [{ name: 'agent', data, opts: jobOptions(data.k, options) }] : []));
  if (jobs.length > 0) {
    await queue.addBulk(jobs);
    onQueued?.(); // a worker may take them now: the total is for the display and the end, read later
  }
  await store.addToTotal(batchId, flags.filter((f) => f === 'new').length);
  return jobs.length;
}

/**
 * Wakes the jobs for one agent that wait, delayed, in other batches' queues (for the agent's lease):
 * each moves to its queue's waiting list now. A job that is no longer delayed is left as it is.
 */
export async function wakeJobs(store: BatchStore, agentKey: string, batchIds: readonly string[]): Promise<void> {
  await Promise.all(
    // Ids read back from Redis: only well-formed ones name a queue.
    batchIds.filter((id) => BATCH_ID.test(id)).map((batchId) =>
      store.withQueue(batchId, async (queue) => {
        const job = await queue.getJob(jobId(agentKey));
        if (job && (await job.isDelayed())) await job.promote().catch(() => {});
      }),
    ),
  );
}

/**
 * Pauses the batch's queue because the batch is in `status` (paused, halted, waiting for its window),
 * and resumes it again if the batch has left that status meanwhile. A status change and its queue action
 * are two steps: a resume (or a window opening) landing between another process's status read and its
 * pause would otherwise leave a running batch with a paused queue — nothing would ever run (seen under
 * load: a budget halt's controller step paused the queue just after `resume --override-budget`).
 * Returns whether this call paused a queue that was running.
 */
export async function pauseQueueWhile(store: BatchStore, batchId: string, status: string): Promise<boolean> {
  return store.withQueue(batchId, async (queue) => {
    const wasPaused = await queue.isPaused();
    if (!wasPaused) await queue.pause();
    if ((await store.batchStatus(batchId)) !== status) {
      await queue.resume();
      return false;
    }
    return !wasPaused;
  });
}

/**
 * Completed job records are removed: the batch's own keys hold the results (SPEC §7). Failed ones are
 * kept until the controller has recorded their agents (lost-jobs.ts): the processor ends every job it
 * runs as completed, so a failed job is one BullMQ failed by itself (stalled past the limit).
 */
export function jobOptions(agentKey: string, options: BatchOptions): JobsOptions {
  return {
    jobId: jobId(agentKey),
    attempts: options.attempts,
    backoff: { type: 'nova' },
    removeOnComplete: true,
    removeOnFail: false,
  };
}
