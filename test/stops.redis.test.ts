/**
 * Stops stop (SPEC §13), at the rates operators really use: 2 requests/s with 8 agents in flight, so
 * that several jobs are always waiting for their rate slot when the stop comes. After `pause`,
 * `cancel`, a window's close or a worker's stop returns, no request may arrive at the API — except one
 * sent before it returned. Sends are counted where they happen, in the client (a request arriving
 * late at a loaded mock is not one sent late; and one sent late is caught to the millisecond, not
 * after 60 ms of grace).
 */
import { describe, expect, it } from 'vitest';
import { NovaClient } from '../src/api/client.js';
import { cancelBatch, pauseBatch, resumeBatch, retryBatch } from '../src/ops/actions.js';
import { submitBatch } from '../src/ops/create-batch.js';
import { WorkerPool } from '../src/worker/worker-pool.js';
import type { MockApi } from '../src/mock/server.js';
import { BatchStore } from '../src/store/batch-store.js';
import type { BatchOptions, RolloutControls } from '../src/batch/records.js';
import { engineFixtures } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('stops');
const SLOW: BatchOptions = { rate: 2, attempts: 6, backoffMs: 20, backoffCapMs: 200 };
/** Date.now() has millisecond steps: a send in the same millisecond as the stop's return is not late. */
const SAME_TICK = 1;

async function slowBatch(name: string, controls: RolloutControls = {}, pollMs = 200, pace: { options?: BatchOptions; concurrency?: number; latencyMs?: number } = {}) {
  const api = await startMock({ agents: 20, recordRequests: true, ...(pace.latencyMs ? { latencyMs: pace.latencyMs } : {}) });
  const prefix = testPrefix(name);
  const store = new BatchStore(redis, prefix);
  const concurrency = pace.concurrency ?? 8;
  const sent: number[] = [];
  const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: concurrency, onSend: () => void sent.push(Date.now()) });
  const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency, batchIds: [name], pollMs });
  await submitBatch({ store, file: manifest(`${name}.ndjson`, api.agentIds().map((a) => ({ ...a, patch: { name: `Stopped ${name}` } }))), manifestOptions: {}, batchId: name, options: pace.options ?? SLOW, controls });
  await pool.start();
  const stop = async () => {
    await pool.close(2000);
    client.close();
  };
  return { api, store, pool, stop, sent };
}

/** Waits until the mock has seen `n` requests (the batch is well under way, slot waiters queued). */
async function requestsSeen(api: MockApi, n: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (api.requests().length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(api.requests().length).toBeGreaterThanOrEqual(n);
}

/** Requests this worker sent after `at` (a stop returned then). */
const lateRequests = (run: { sent: number[] }, at: number) => run.sent.filter((t) => t > at + SAME_TICK);

describe('at 2 requests/s with 8 in flight, no request starts after a stop returns', () => {
  it('pause', async () => {
    const run = await slowBatch('pause-slow');
    await requestsSeen(run.api, 3);
    await pauseBatch(run.store, 'pause-slow');
    const pausedAt = Date.now();
    // Every slot the 8 waiting jobs had reserved (up to 4 s ahead at 2/s) comes and goes.
    await new Promise((r) => setTimeout(r, 4500));
    expect(lateRequests(run, pausedAt)).toEqual([]);
    // Nothing was lost and no attempt was spent on waiting: the batch finishes after resume, and every
    // agent took exactly one attempt (a job deferred for the pause used to come back with attempts: 2).
    const counts = await run.store.counts('pause-slow');
    expect(counts.pending).toBeGreaterThan(0);
    await run.store.setRate('pause-slow', 200);
    await resumeBatch(run.store, 'pause-slow');
    const deadline = Date.now() + 20_000;
    while ((await run.store.getBatch('pause-slow'))!.status !== 'completed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await run.stop();
    expect(await run.store.counts('pause-slow')).toMatchObject({ applied: 20, pending: 0 });
    for await (const pairs of run.store.scanStatuses('pause-slow')) {
      for (const [key] of pairs) expect((await run.store.agentRecord('pause-slow', key))!.attempts, key).toBe(1);
    }
  }, 30_000);

  it('pause, with jobs waiting for a place among the requests in flight (2 places, any rate)', async () => {
    // The rate never binds here: jobs wait for one of the 2 places instead, their slots long reserved.
    // A place takes 300 ms to free, so a job that went on the status it knew before its wait would be
    // sent well after the pause returned.
    const run = await slowBatch('pause-places', {}, 200, { options: { ...SLOW, rate: 1000 }, concurrency: 2, latencyMs: 300 });
    await requestsSeen(run.api, 3);
    await pauseBatch(run.store, 'pause-places');
    const pausedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    await run.stop();
    expect(lateRequests(run, pausedAt)).toEqual([]);
    expect((await run.store.counts('pause-places')).pending).toBeGreaterThan(0);
  }, 30_000);

  it('cancel', async () => {
    const run = await slowBatch('cancel-slow');
    await requestsSeen(run.api, 3);
    const { skipped } = await cancelBatch(run.store, 'cancel-slow');
    const cancelledAt = Date.now();
    await new Promise((r) => setTimeout(r, 4500));
    await run.stop();
    expect(lateRequests(run, cancelledAt)).toEqual([]);
    const counts = await run.store.counts('cancel-slow');
    // What cancel said is what happened: no agent it reported skipped was changed afterwards.
    expect(counts.skipped).toBeGreaterThanOrEqual(skipped);
    expect(counts.applied).toBe(run.api.stats().patchesApplied);
    expect(counts.applied + counts.skipped).toBe(20);
  }, 30_000);

  it("a window's close", async () => {
    const hhmmss = (t: number) => new Date(t).toISOString().slice(11, 19);
    const closes = Math.ceil((Date.now() + 2500) / 1000) * 1000;
    const window = `${hhmmss(closes - 3_600_000)}-${hhmmss(closes)} UTC`;
    // The controller (which pauses the queue of a shut window) steps only every 2 s here: the requests
    // in between must be stopped by each worker's own check of the window, right before sending.
    const run = await slowBatch('window-slow', { window }, 2000);
    await new Promise((r) => setTimeout(r, closes - Date.now() + 4500));
    const counts = await run.store.counts('window-slow');
    await run.stop();
    expect(run.api.requests().length).toBeGreaterThan(2);
    expect(lateRequests(run, closes)).toEqual([]);
    expect(counts.pending).toBeGreaterThan(0);
  }, 30_000);

  it("the worker's own stop (what SIGINT and SIGTERM call): waiting jobs go back to the queue unspent", async () => {
    const run = await slowBatch('stop-slow');
    await requestsSeen(run.api, 3);
    const closing = run.pool.close(10_000);
    const stoppedAt = Date.now();
    await closing;
    // It does not wait for the reserved slots (4 s away for the last of the 8: the old close took 6.5 s),
    // only for requests already sent.
    expect(Date.now() - stoppedAt).toBeLessThan(3500);
    await new Promise((r) => setTimeout(r, 1500));
    await run.stop();
    expect(lateRequests(run, stoppedAt)).toEqual([]);
    // A job put back was not counted as an attempt: every agent not yet finished has 0 or 1 attempts.
    for await (const pairs of run.store.scanStatuses('stop-slow')) {
      for (const [key, status] of pairs) {
        const record = (await run.store.agentRecord('stop-slow', key))!;
        if (status === 'pending') expect(record.attempts, key).toBeLessThanOrEqual(1);
      }
    }
  }, 30_000);
});

describe('skipped is not lost', () => {
  const finished = async (store: BatchStore, batchId: string) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const meta = (await store.getBatch(batchId))!;
      if (['completed', 'completed_with_failures'].includes(meta.status) || Date.now() > deadline) return meta;
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('retry --skipped finishes a cancelled batch: every agent applied exactly once', async () => {
    const run = await slowBatch('cancel-retry');
    await requestsSeen(run.api, 3);
    const { skipped } = await cancelBatch(run.store, 'cancel-retry');
    expect(skipped).toBeGreaterThan(0);
    await expect(retryBatch(run.store, 'cancel-retry')).rejects.toThrow('is cancelled: it cannot be retried as it is');
    const { retried, withoutJob } = await retryBatch(run.store, 'cancel-retry', { skipped: true });
    expect(withoutJob).toBe(0);
    expect(retried).toBe((20 - (await run.store.counts('cancel-retry')).applied));
    await run.store.setRate('cancel-retry', 200);
    const meta = await finished(run.store, 'cancel-retry');
    await run.stop();
    expect(meta.status).toBe('completed');
    expect(await run.store.counts('cancel-retry')).toMatchObject({ applied: 20, skipped: 0, pending: 0 });
    expect(Object.values(run.api.stats({ perAgent: true }).appliedPerAgent!)).toEqual(new Array(20).fill(1));
  }, 40_000);

  it('a batch cut by its deadline ends cancelled with the reason; retry --skipped lifts the deadline and finishes it', async () => {
    const run = await slowBatch('deadline-retry', { deadline: Date.now() + 2500 });
    const deadline = Date.now() + 15_000;
    let meta = (await run.store.getBatch('deadline-retry'))!;
    while ((meta.status !== 'cancelled' || meta.deadlineSkipping) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      meta = (await run.store.getBatch('deadline-retry'))!;
    }
    expect(meta.status).toBe('cancelled');
    expect(meta.haltReason).toMatch(/^deadline_passed: /);
    const { retried } = await retryBatch(run.store, 'deadline-retry', { skipped: true });
    expect(retried).toBeGreaterThan(0);
    expect((await run.store.getBatch('deadline-retry'))!.deadline).toBeUndefined();
    await run.store.setRate('deadline-retry', 200);
    const done = await finished(run.store, 'deadline-retry');
    await run.stop();
    expect(done.status).toBe('completed');
    expect(await run.store.counts('deadline-retry')).toMatchObject({ applied: 20, skipped: 0 });
  }, 40_000);
});
