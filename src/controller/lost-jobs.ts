/**
 * Jobs BullMQ fails by itself — a job stalled more times than `maxStalledCount` (its workers died
 * mid-job again and again), or one whose processor threw on its last attempt — end in the queue's
 * failed set (jobs are kept on failure for this), never through the processor. Their agents would stay
 * `pending` for ever and the batch never end, the failure hidden (issue 26: the worker's `failed` event
 * does not fire for a stalled job). The controller's step records each as `failed`, with its job (so
 * `retry` runs it again), and removes it.
 */
import type { BatchStore } from '../store/batch-store.js';

/** Records the agents of the batch's failed jobs as failed; returns how many it recorded. */
export async function recordFailedJobs(store: BatchStore, batchId: string): Promise<number> {
  if ((await store.failedJobCount(batchId)) === 0) return 0;
  return store.withQueue(batchId, async (queue) => {
    let recorded = 0;
    for (const job of await queue.getFailed(0, 999)) {
      const key = (job?.data as { k?: unknown } | undefined)?.k;
      if (typeof key === 'string') {
        const error = `its job failed in the queue: ${job!.failedReason || 'no reason given'} (\`nova-fleet retry ${batchId}\` runs it again)`;
        if (await store.finish(batchId, key, 'failed', ['pending', 'skipped'], { error, job: job!.data })) recorded++;
      }
      await job?.remove();
    }
    if (recorded > 0) await store.completeIfDone(batchId);
    return recorded;
  });
}
