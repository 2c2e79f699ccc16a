/**
 * A job read from Redis is untrusted (issue 13: a job rewritten through bull-board had its patch
 * applied to an agent unchecked): its patch passes the manifest's checks before any request.
 */
import { Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { retryBatch } from '../src/ops/actions.js';
import { connectRedis } from '../src/store/connect.js';
import { QUEUE_NAME } from '../src/store/keys.js';
import { until } from './helpers/hold.js';
import { jobId } from '../src/batch/job.js';
import { submitBatch } from '../src/ops/create-batch.js';
import { BatchStore } from '../src/store/batch-store.js';
import { agentKey } from '../src/store/keys.js';
import { engineFixtures, FAST, workToEnd } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { keysUnder, REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('hostile-job');

describe('a job rewritten in Redis', () => {
  it('with a read-only or unknown field fails that agent, which is left untouched', async () => {
    const api = await startMock({ agents: 3 });
    const [target, ...rest] = api.agentIds();
    const original = api.agent(target!.org_id, target!.agent_id)!;
    const prefix = testPrefix('hostile-job');
    const store = new BatchStore(redis, prefix);
    await submitBatch({ store, file: manifest('job.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Fine' } }))), manifestOptions: {}, batchId: 'job-1', options: FAST });
    const key = agentKey(target!.org_id, target!.agent_id);
    const queue = store.queue('job-1');
    await (await queue.getJob(jobId(key)))!.updateData({ k: key, l: 1, i: { organization_id: 'other-org', name: 'Hijacked' } });
    await queue.close();
    const { counts } = await workToEnd(api, prefix, 'job-1');
    expect(counts).toMatchObject({ applied: 2, failed: 1 });
    const record = (await store.agentRecord('job-1', key))!;
    expect(record.error).toContain("the job's patch is not valid (changed in Redis since submit?): organization_id: read-only field");
    expect(api.agent(target!.org_id, target!.agent_id)).toEqual(original);
    for (const a of rest) expect(api.agent(a.org_id, a.agent_id)!.name).toBe('Fine');
  });

  it('whose stored patch is gone from Redis fails at once, one attempt, not after six', async () => {
    // Issue 26: a patch missing from Redis was retried with backoff like a network error.
    const api = await startMock({ agents: 3 });
    const prefix = testPrefix('hostile-job-patch');
    const store = new BatchStore(redis, prefix);
    const prompt = `A prompt long enough to be stored once per batch. ${'x'.repeat(300)}`;
    await submitBatch({ store, file: manifest('stored-patch.ndjson', api.agentIds().map((a) => ({ ...a, patch: { prompt_template: prompt } }))), manifestOptions: {}, batchId: 'patch-1', options: { ...FAST, backoffMs: 2000 } });
    const stored = (await keysUnder(redis as never, prefix)).filter((key) => key.endsWith(':patches'));
    expect(stored).toHaveLength(1);
    await redis.del(stored[0]!);
    const started = Date.now();
    const { counts } = await workToEnd(api, prefix, 'patch-1');
    expect(counts).toMatchObject({ failed: 3, applied: 0 });
    expect(Date.now() - started).toBeLessThan(2000); // no backoff of 2 s between attempts
    for (const a of api.agentIds()) {
      const record = (await store.agentRecord('patch-1', agentKey(a.org_id, a.agent_id)))!;
      expect(record.attempts).toBe(1);
      expect(record.error).toMatch(/patch \S+ of batch patch-1 is missing from Redis/);
    }
    expect(api.stats().byMethod.PATCH ?? 0).toBe(0);
  });

  it('that BullMQ fails by itself (stalled past the limit) is recorded failed with its job, and retry runs it', async () => {
    // Issue 26: the worker's `failed` event never fires for a stalled job: the agent stayed pending for
    // ever, the batch never ended, the failure hidden.
    const api = await startMock({ agents: 3 });
    const prefix = testPrefix('hostile-job-stalled');
    const store = new BatchStore(redis, prefix);
    await submitBatch({ store, file: manifest('stalled.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Stalled once' } }))), manifestOptions: {}, batchId: 'stalled-1', options: FAST });
    // Workers that die mid-job, as often as BullMQ allows: they take every job and never renew its lock.
    const dying = new Worker(QUEUE_NAME, () => new Promise(() => {}), { connection: connectRedis(REDIS_URL, { blocking: true }), prefix: store.queuePrefix('stalled-1'), concurrency: 10, skipLockRenewal: true, lockDuration: 300, stalledInterval: 200, maxStalledCount: 0 });
    const failed = await until(async () => ((await store.withQueue('stalled-1', (queue) => queue.getFailedCount())) === 3 ? true : undefined), 'the jobs to fail as stalled');
    expect(failed).toBe(true);
    await dying.close(true);
    await dying.disconnect();
    const ended = await workToEnd(api, prefix, 'stalled-1');
    expect(ended.meta.status).toBe('completed_with_failures');
    expect(ended.counts).toMatchObject({ failed: 3, pending: 0 });
    const record = (await store.agentRecord('stalled-1', agentKey(api.agentIds()[0]!.org_id, api.agentIds()[0]!.agent_id)))!;
    expect(record.error).toContain('its job failed in the queue: job stalled more than allowable limit');
    expect(await store.withQueue('stalled-1', (queue) => queue.getFailedCount())).toBe(0);
    const { retried } = await retryBatch(store, 'stalled-1');
    expect(retried).toBe(3);
    const again = await workToEnd(api, prefix, 'stalled-1');
    expect(again.counts).toMatchObject({ applied: 3, failed: 0 });
  }, 30_000);
});
