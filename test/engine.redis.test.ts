/** The engine end to end: real Redis, real BullMQ, the real mock over loopback. */
import { describe, expect, it } from 'vitest';
import { NovaClient } from '../src/api/client.js';
import { cancelBatch, pauseBatch, resumeBatch, retryBatch } from '../src/ops/actions.js';
import { RAMP_WAIT_MS, submitBatch } from '../src/ops/create-batch.js';
import { WorkerPool } from '../src/worker/worker-pool.js';
import { BatchStore } from '../src/store/batch-store.js';
import { agentKey, QUEUE_NAME } from '../src/store/keys.js';
import { startMock } from './helpers/mock.js';
import { engineFixtures, ENDED, expectCountersMatch, FAST, runToEnd, startBatch } from './helpers/engine.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('engine');

describe('engine: a rollout end to end', () => {
  it('applies every agent, records snapshots, and completes', async () => {
    const api = await startMock({ agents: 30 });
    const prefix = testPrefix('e2e');
    const ids = api.agentIds();
    const originals = ids.map((a) => api.agent(a.org_id, a.agent_id)!);
    const file = manifest('e2e.ndjson', ids.map((a, i) => ({ ...a, patch: i === 0 ? { name: originals[0]!.name } : { prompt_template: { $replace: { find: 'Role', with: 'Your role' } }, vad_config: { sample_rate: 44100 } } })));
    const { store, meta, counts, submitted } = await runToEnd(api, prefix, file, 'e2e-1');
    expect(submitted).toMatchObject({ total: 30, enqueued: 30, created: true });
    expect(meta.status).toBe('completed');
    expect(counts).toMatchObject({ pending: 0, applied: 29, unchanged: 1, failed: 0 });
    for (const [i, a] of ids.entries()) {
      const record = (await store.agentRecord('e2e-1', agentKey(a.org_id, a.agent_id)))!;
      expect(record.before).toEqual(originals[i]);
      expect(record.after).toEqual(api.agent(a.org_id, a.agent_id));
      if (i > 0) {
        expect(String(record.after!.prompt_template)).toBe(String(originals[i]!.prompt_template).split('Role').join('Your role'));
        expect(record.changed!.sort()).toEqual(['prompt_template', 'vad_config']);
      }
    }
  });
});

describe('engine: submit and the worker of the same process', () => {
  it('is told the batch exists before its jobs are enqueued, and when the first of them are in the queue', async () => {
    const api = await startMock({ agents: 100 });
    const file = manifest('first-jobs.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'First' } })));
    const store = new BatchStore(redis, testPrefix('first-jobs'));
    const queue = store.queue('first-1');
    try {
      let seen: { atCreation: number; once: Promise<number> } | undefined;
      const submitted = await submitBatch({
        store, file, manifestOptions: {}, batchId: 'first-1', options: FAST,
        onCreated: (meta, firstJobs) => {
          expect(meta.id).toBe('first-1');
          seen = { atCreation: 0, once: firstJobs.then(() => queue.count()) };
          void queue.count().then((n) => (seen!.atCreation = n));
        },
      });
      expect(submitted).toMatchObject({ created: true, enqueued: 100 });
      // A worker that looked when told of the batch found nothing; one that looks once told of the first
      // jobs finds them (the first chunk: 64).
      expect(seen!.atCreation).toBe(0);
      expect(await seen!.once).toBeGreaterThanOrEqual(64);
    } finally {
      await queue.close();
    }
  });

  it('writes the rest once that worker has its first jobs under way (the promise it returns), never later than RAMP_WAIT_MS', async () => {
    const api = await startMock({ agents: 300 });
    const file = manifest('ramp-wait.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Waited' } })));
    const store = new BatchStore(redis, testPrefix('ramp-wait'));
    const queue = store.queue('ramp-w-1');
    try {
      let ramped!: () => void;
      let told!: (counted: Promise<number>) => void;
      const counted = new Promise<Promise<number>>((resolve) => (told = resolve));
      const submitting = submitBatch({
        store, file, manifestOptions: {}, batchId: 'ramp-w-1', options: FAST,
        onCreated: (_meta, firstJobs) => {
          // Counted a while after the first chunk, with the worker not yet "ramped": only that chunk.
          told(firstJobs.then(() => new Promise((r) => setTimeout(r, 200))).then(() => queue.count()));
          return new Promise<void>((resolve) => (ramped = resolve));
        },
      });
      expect(await (await counted)).toBe(64);
      ramped();
      expect(await submitting).toMatchObject({ created: true, enqueued: 300 });
      expect(await queue.count()).toBe(300);
      // A worker that never says so holds the rest back RAMP_WAIT_MS at most.
      const started = Date.now();
      const stuck = await submitBatch({ store, file, manifestOptions: {}, batchId: 'ramp-w-2', options: FAST, onCreated: () => new Promise<void>(() => {}) });
      expect(stuck).toMatchObject({ created: true, enqueued: 300 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(RAMP_WAIT_MS - 5);
      expect(Date.now() - started).toBeLessThan(RAMP_WAIT_MS + 5000);
    } finally {
      await queue.close();
    }
  });

  it("a pool's `ramped` settles when its runner holds all the jobs it keeps, or all there are (drained), or it does not work the batch at once", async () => {
    const api = await startMock({ agents: 40, latencyMs: 200 });
    const file = manifest('ramped.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Ramped' } })));
    const prefix = testPrefix('ramped');
    const store = new BatchStore(redis, prefix);
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: 64 });
    const pools: WorkerPool[] = [];
    const settledWithin = (promise: Promise<void>, ms: number) => Promise.race([promise.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
    try {
      // 40 agents, --concurrency 32: the runner keeps 64 jobs and never holds that many — the queue drains.
      let pool: Promise<WorkerPool> | undefined;
      await submitBatch({
        store, file, manifestOptions: {}, batchId: 'ramped-1', options: FAST,
        onCreated: (meta, firstJobs) => {
          pool = (async () => {
            const made = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency: 32, batchIds: [meta.id], created: meta, firstJobs, pollMs: 100 });
            pools.push(made);
            await made.start();
            return made;
          })();
          return pool.then((p) => p.ramped);
        },
      });
      // Settled while the 200 ms requests are still out: by the drain, not by the end of the batch.
      expect(await settledWithin((await pool!).ramped, 150)).toBe(true);
      expect(api.stats().total).toBeLessThan(80);
      // 40 agents, --concurrency 4: the runner keeps 8 jobs — settled once it holds them, 32 still queued.
      const other = await startMock({ agents: 40, latencyMs: 200, seed: 2 }); // agents of its own (not leased by the first batch)
      const otherClient = new NovaClient({ baseUrl: other.url, apiKey: other.apiKey, maxSockets: 4 });
      const otherFile = manifest('ramped-full.ndjson', other.agentIds().map((a) => ({ ...a, patch: { name: 'Ramped' } })));
      let full: Promise<WorkerPool> | undefined;
      await submitBatch({
        store, file: otherFile, manifestOptions: {}, batchId: 'ramped-3', options: FAST,
        onCreated: (meta, firstJobs) => {
          full = (async () => {
            const made = new WorkerPool({ redisUrl: REDIS_URL, prefix, client: otherClient, concurrency: 4, batchIds: [meta.id], created: meta, firstJobs, pollMs: 100 });
            pools.push(made);
            await made.start();
            return made;
          })();
          return full.then((p) => p.ramped);
        },
      });
      expect(await settledWithin((await full!).ramped, 150)).toBe(true);
      expect(await store.queue('ramped-3').count()).toBeGreaterThanOrEqual(30);
      otherClient.close();
      // A batch that waits for its start time is not worked at once: nothing to wait for.
      const later = { ...(await store.getBatch('ramped-1'))!, id: 'ramped-2', startAt: Date.now() + 60_000 };
      const waiting = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency: 4, batchIds: ['ramped-2'], created: later, firstJobs: Promise.resolve(), pollMs: 100 });
      pools.push(waiting);
      await waiting.start();
      expect(await settledWithin(waiting.ramped, 50)).toBe(true);
    } finally {
      for (const p of pools) await p.close(2000);
      client.close();
    }
  });
});

describe('engine: --concurrency', () => {
  it('is the most requests in flight: reached and never passed, whatever the HTTP client would allow', async () => {
    // 40 ms per request, a rate that never binds and a client with more sockets than that: only the
    // worker's own limit holds requests back (and it must: requests queued inside the HTTP client
    // would go out after the gate had looked).
    const api = await startMock({ agents: 48, latencyMs: 40 });
    const file = manifest('concurrency.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Four at a time' } })));
    const { counts } = await runToEnd(api, testPrefix('concurrency'), file, 'conc-1', { ...FAST, rate: 1000 }, { concurrency: 4, sockets: 32 });
    expect(counts).toMatchObject({ applied: 48, failed: 0 });
    expect(api.stats().peakInFlight).toBe(4);
  });

  it('starts each job as soon as it is fetched, not once the worker holds as many as it runs at once', async () => {
    // BullMQ's loop fetches one job after another and starts none until it holds `concurrency` of them;
    // the pool raises the count as jobs start. At 16 places and a rate that never binds a worker runs 32
    // jobs: the first agent's request must reach the API before the 32nd job is fetched.
    const api = await startMock({ agents: 32, latencyMs: 50, recordRequests: true });
    const file = manifest('ramp.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Ramped' } })));
    const prefix = testPrefix('ramp');
    const { store, counts } = await runToEnd(api, prefix, file, 'ramp-1', { ...FAST, rate: 1000 }, { concurrency: 16 });
    expect(counts).toMatchObject({ applied: 32, failed: 0 });
    // The queue's event stream: each job's move to active, stamped (its id) on the Redis clock in ms.
    const events = await redis.xrange(`${store.queuePrefix('ramp-1')}:${QUEUE_NAME}:events`, '-', '+');
    const fetched = events.filter(([, fields]) => fields[1] === 'active').map(([id]) => Number(id.split('-')[0]));
    expect(fetched).toHaveLength(32);
    const firstRequest = Math.min(...api.requests().map((r) => r.t));
    expect(firstRequest).toBeLessThan(Math.max(...fetched));
  });

  it('at 2 requests/s, still reaches its number of jobs while they wait for their rate slots', async () => {
    // 4 places at a rate far below 20 per place: a quarter more jobs than places, 5. The ramp adds one
    // as each job starts — before it waits for its slot — so all 5 are held long before 5 agents are done.
    const api = await startMock({ agents: 12, latencyMs: 20 });
    const file = manifest('ramp-slow.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Slowly' } })));
    const prefix = testPrefix('ramp-slow');
    const run = await startBatch(api, prefix, file, 'ramp-slow-1', { ...FAST, rate: 2 }, { concurrency: 4 });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const events = await redis.xrange(`${run.store.queuePrefix('ramp-slow-1')}:${QUEUE_NAME}:events`, '-', '+');
      const fetched = events.filter(([, fields]) => fields[1] === 'active').length;
      expect(api.stats().total).toBeLessThanOrEqual(5); // ~2 requests/s: at most 2 agents done
      expect(fetched).toBeGreaterThanOrEqual(5);
    } finally {
      await run.stop();
    }
  });
});

describe('engine: faults, controls, idempotency', () => {
  it('with every fault on, every agent ends as the manifest says and $replace is applied exactly once', async () => {
    // The API's limit is well under what the batch asks (1000/s), so 429s happen on a slow machine too.
    const api = await startMock({ agents: 60, failRate: 0.1, dropBeforeRate: 0.03, dropAfterRate: 0.1, slowRate: 0.02, slowMs: 1500, rateLimit: 150, burst: 3 });
    const prefix = testPrefix('faults');
    const ids = api.agentIds();
    const originals = new Map(ids.map((a) => [agentKey(a.org_id, a.agent_id), api.agent(a.org_id, a.agent_id)!]));
    const file = manifest('faults.ndjson', ids.map((a) => ({ ...a, patch: { prompt_template: { $replace: { find: 'Role', with: 'Role Role' } }, goodbye_config: { message: 'Bye!' } } })));
    const { store, meta, counts } = await runToEnd(api, prefix, file, 'faults-1', { rate: 1000, attempts: 10, backoffMs: 20, backoffCapMs: 200 }, { timeoutMs: 1000 });
    expect(meta.status).toBe('completed');
    expect(counts).toMatchObject({ pending: 0, applied: 60, failed: 0 });
    for (const a of ids) {
      const key = agentKey(a.org_id, a.agent_id);
      const original = originals.get(key)!;
      const now = api.agent(a.org_id, a.agent_id)!;
      expect(now.prompt_template).toBe(String(original.prompt_template).split('Role').join('Role Role'));
      expect((now.goodbye_config as { message: string }).message).toBe('Bye!');
      const record = (await store.agentRecord('faults-1', key))!;
      expect(record.before).toEqual(original);
    }
    const stats = api.stats();
    expect(stats.byStatus['429'] ?? 0).toBeGreaterThan(0);
    expect(stats.byStatus.dropped ?? 0).toBeGreaterThan(0);
    expect((stats.byStatus['500'] ?? 0) + (stats.byStatus['502'] ?? 0) + (stats.byStatus['503'] ?? 0)).toBeGreaterThan(0);
    await expectCountersMatch(store, 'faults-1');
  });

  it('submitting the same batch id again adds nothing; with another manifest it is refused', async () => {
    const api = await startMock({ agents: 10 });
    const prefix = testPrefix('resubmit');
    const file = manifest('resubmit.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Same' } })));
    const first = await runToEnd(api, prefix, file, 'resubmit-1');
    expect(first.meta.status).toBe('completed');
    const store = new BatchStore(redis, prefix);
    const again = await submitBatch({ store, file, manifestOptions: {}, batchId: 'resubmit-1', options: FAST });
    expect(again).toMatchObject({ created: false, total: 10, enqueued: 0 });
    expect(again.meta.status).toBe('completed');
    const other = manifest('other.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Other' } })));
    await expect(submitBatch({ store, file: other, manifestOptions: {}, batchId: 'resubmit-1', options: FAST })).rejects.toThrow('batch resubmit-1 already exists with a different manifest');
    expect(api.stats().byMethod.PATCH).toBe(10);
  });

  it('pause stops new requests; resume finishes the batch', async () => {
    const api = await startMock({ agents: 40, latencyMs: 30, recordRequests: true });
    const prefix = testPrefix('pause');
    const file = manifest('pause.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Paused run' } })));
    const run = await startBatch(api, prefix, file, 'pause-1', { ...FAST, rate: 20 }, { concurrency: 4 });
    await new Promise((r) => setTimeout(r, 600));
    const paused = await pauseBatch(run.store, 'pause-1');
    expect(paused.status).toBe('paused');
    const pausedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    const resumedAt = Date.now();
    const during = api.requests().filter((r) => r.t > pausedAt + 600 && r.t < resumedAt);
    expect(during).toEqual([]);
    const countsWhilePaused = await run.store.counts('pause-1');
    expect(countsWhilePaused.pending).toBeGreaterThan(0);
    expect((await resumeBatch(run.store, 'pause-1')).status).toBe('running');
    const meta = await run.waitFor(ENDED);
    await run.stop();
    expect(meta.status).toBe('completed');
    expect(await run.store.counts('pause-1')).toMatchObject({ applied: 40, pending: 0 });
  });

  it('cancel skips what has not started and nothing starts afterwards', async () => {
    const api = await startMock({ agents: 40, latencyMs: 30, recordRequests: true });
    const prefix = testPrefix('cancel');
    const file = manifest('cancel.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Cancelled run' } })));
    const run = await startBatch(api, prefix, file, 'cancel-1', { ...FAST, rate: 20 }, { concurrency: 4 });
    await new Promise((r) => setTimeout(r, 600));
    const { meta, skipped } = await cancelBatch(run.store, 'cancel-1');
    const cancelledAt = Date.now();
    expect(meta.status).toBe('cancelled');
    expect(skipped).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1000));
    await run.stop();
    expect(api.requests().filter((r) => r.t > cancelledAt + 600)).toEqual([]);
    const counts = await run.store.counts('cancel-1');
    expect(counts.pending).toBe(0);
    expect(counts.applied + counts.skipped).toBe(40);
    // Every agent the API changed is reported applied, never hidden as skipped.
    expect(counts.applied).toBe(api.stats().patchesApplied);
    expect((await run.store.getBatch('cancel-1'))!.status).toBe('cancelled');
    await expectCountersMatch(run.store, 'cancel-1');
  });

  it('fails 422s at once, and retry re-runs only the failed agents', async () => {
    const api = await startMock({ agents: 12 });
    const prefix = testPrefix('retry');
    const ids = api.agentIds();
    api.configure({ agentStatus: { [ids[0]!.agent_id]: 422, [ids[1]!.agent_id]: 422 } });
    const file = manifest('retry.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Retried' } })));
    const first = await runToEnd(api, prefix, file, 'retry-1');
    expect(first.meta.status).toBe('completed_with_failures');
    expect(first.counts).toMatchObject({ applied: 10, failed: 2 });
    const failed = (await first.store.agentRecord('retry-1', agentKey(ids[0]!.org_id, ids[0]!.agent_id)))!;
    expect(failed).toMatchObject({ status: 'failed', attempts: 1 });
    expect(failed.error).toContain('422');
    api.configure({ agentStatus: {} });
    const store = new BatchStore(redis, prefix);
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
    const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, batchIds: ['retry-1'], pollMs: 100 });
    await pool.start();
    const { retried } = await retryBatch(store, 'retry-1');
    expect(retried).toBe(2);
    for (let i = 0; i < 200 && (await store.getBatch('retry-1'))!.status !== 'completed'; i++) await new Promise((r) => setTimeout(r, 50));
    await pool.close(2000);
    client.close();
    expect((await store.getBatch('retry-1'))!.status).toBe('completed');
    expect(await store.counts('retry-1')).toMatchObject({ applied: 12, failed: 0, pending: 0 });
    expect(api.stats().byMethod.PATCH).toBe(12);
  });

  it('a closing pool starts no agent it fetched ahead: those jobs go back to the queue for the next worker', async () => {
    // Replies slow enough that the close always lands while the first GETs are in flight, even on a
    // loaded machine (with 300 ms, a late timer could let GETs return and PATCHes start first).
    const api = await startMock({ agents: 20, latencyMs: 1500 });
    const prefix = testPrefix('handback');
    const ids = api.agentIds();
    const file = manifest('handback.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Handed back' } })));
    const store = new BatchStore(redis, prefix);
    const first = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
    // Concurrency 4: BullMQ fetches a fifth job ahead, which waits for a free slot.
    const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client: first, concurrency: 4, batchIds: ['handback-1'], pollMs: 50 });
    await pool.start();
    await submitBatch({ store, file, manifestOptions: {}, batchId: 'handback-1', options: FAST });
    // Close once four agents have started (their attempt counted, their GET about to go or in flight:
    // replies take 1.5 s). The mock counts a request only when it answers, so its stats cannot tell.
    const started = async () => {
      let n = 0;
      for (const a of ids) n += Number((await redis.hget(store.keys.agent('handback-1', agentKey(a.org_id, a.agent_id)), 'attempts')) ?? 0);
      return n;
    };
    for (let i = 0; i < 400 && (await started()) < 4; i++) await new Promise((r) => setTimeout(r, 10));
    await pool.close(5000);
    first.close();
    // Only the four GETs in flight when closing began were sent; the one fetched ahead started nothing,
    // and no PATCH started after the close (SPEC §13: a stop lets only requests already sent finish).
    expect(api.stats().byMethod.GET).toBe(4);
    expect(api.stats().byMethod.PATCH ?? 0).toBe(0);
    expect((await store.counts('handback-1')).pending).toBe(20);
    const queue = store.queue('handback-1');
    expect((await queue.getJobCounts('active')).active).toBe(0);
    await queue.close();
    // A second worker finishes the batch at once (no job waits for a stalled lock).
    const second = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
    const next = new WorkerPool({ redisUrl: REDIS_URL, prefix, client: second, concurrency: 8, batchIds: ['handback-1'], pollMs: 50 });
    await next.start();
    for (let i = 0; i < 200 && (await store.getBatch('handback-1'))!.status !== 'completed'; i++) await new Promise((r) => setTimeout(r, 50));
    await next.close(2000);
    second.close();
    expect(await store.counts('handback-1')).toMatchObject({ applied: 20, pending: 0 });
    expect(api.stats().byMethod.PATCH).toBe(20);
  });

  it('a refused key halts the batch after a few agents instead of burning through the fleet', async () => {
    const api = await startMock({ agents: 50 });
    const prefix = testPrefix('auth');
    const file = manifest('auth.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'x' } })));
    // Read without pause while it runs: a halted batch is never seen without its reason.
    const watched = new BatchStore(redis, prefix);
    const reasonsSeen = new Set<string | undefined>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const seen = await watched.getBatch('auth-1');
        if (seen?.status === 'halted') reasonsSeen.add(seen.haltReason);
      }
    })();
    const { meta } = await runToEnd(api, prefix, file, 'auth-1', FAST, { apiKey: 'wrong-key', concurrency: 2 });
    watching = false;
    await watcher;
    expect([...reasonsSeen]).toEqual([meta.haltReason]);
    expect(meta.status).toBe('halted');
    expect(meta.haltReason).toContain('bad_credentials');
    // Three refusals block an org (each refusal is two requests: X-API-Key, then Bearer); with every
    // org blocked nothing is left, so it halts — at most the other request in flight (concurrency 2)
    // lands after each org's third. Its agents stay pending, none failed.
    const orgs = new Set(api.agentIds().map((a) => a.org_id)).size;
    expect(api.stats().byStatus['401']).toBeGreaterThanOrEqual(orgs * 3 * 2);
    expect(api.stats().byStatus['401']).toBeLessThanOrEqual(orgs * (3 + 2) * 2);
    expect(api.stats().patchesApplied).toBe(0);
    expect((await watched.counts('auth-1')).failed).toBe(0);
    expect(Object.keys(meta.blockedOrgs ?? {}).length).toBe(orgs);
  });
});

describe('engine: the batches workers poll', () => {
  it('a worker drops ended batches from its poll; retry puts one back and it is worked again', async () => {
    const api = await startMock({ agents: 6 });
    const prefix = testPrefix('active');
    const ids = api.agentIds();
    api.configure({ agentStatus: { [ids[0]!.agent_id]: 422 } });
    const file = manifest('active.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Active' } })));
    const { store, meta } = await runToEnd(api, prefix, file, 'active-1');
    expect(meta.status).toBe('completed_with_failures');
    // The in-process run worked that batch alone; it is still listed until a polling worker looks.
    expect(await store.listActiveBatchIds()).toEqual(['active-1']);
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
    const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, pollMs: 50 });
    await pool.start();
    expect(await store.listActiveBatchIds()).toEqual([]);
    expect(await store.listBatchIds()).toEqual(['active-1']);
    // Retry reopens it: listed again, and the same polling worker finishes it.
    api.configure({ agentStatus: {} });
    expect((await retryBatch(store, 'active-1')).retried).toBe(1);
    for (let i = 0; i < 200 && (await store.getBatch('active-1'))!.status !== 'completed'; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await store.getBatch('active-1'))!.status).toBe('completed');
    for (let i = 0; i < 100 && (await store.listActiveBatchIds()).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await store.listActiveBatchIds()).toEqual([]);
    await pool.close(2000);
    client.close();
    expect(await store.counts('active-1')).toMatchObject({ applied: 6, failed: 0 });
  });

  it('a batch reopened while a worker drops it stays listed; a starting worker relists running batches', async () => {
    const prefix = testPrefix('active-race');
    const store = new BatchStore(redis, prefix);
    await store.createBatch({ id: 'reopened', kind: 'rollout', manifest: 'm', digest: 'd', createdAt: 5, status: 'completed', total: 0, enqueued: true, options: FAST });
    await store.createBatch({ id: 'ended', kind: 'rollout', manifest: 'm', digest: 'd', createdAt: 6, status: 'cancelled', total: 0, enqueued: true, options: FAST });
    // The worker read 'completed' a moment ago; a retry has reopened it since.
    await store.transition('reopened', 'running', ['completed']);
    expect(await store.dropIfFinal('reopened', 5)).toBe(false);
    expect(await store.dropIfFinal('ended', 6)).toBe(true);
    expect(await store.listActiveBatchIds()).toEqual(['reopened']);
    expect(await redis.zscore(store.keys.active(), 'reopened')).toBe('5');
    // A running batch missing from the list (a create cut short, an older nova-fleet's batch) is
    // listed again when a worker starts; ended ones are not.
    await store.createBatch({ id: 'unlisted', kind: 'rollout', manifest: 'm', digest: 'd', createdAt: 7, status: 'running', total: 0, enqueued: true, options: FAST });
    await redis.zrem(store.keys.active(), 'unlisted');
    await store.relistActive();
    expect(await store.listActiveBatchIds()).toEqual(['reopened', 'unlisted']);
  });
});

describe('engine: submit', () => {
  it('enqueues every row of a many-chunk manifest exactly once, even with chunks written concurrently', async () => {
    const prefix = testPrefix('submit-chunks');
    const rows = Array.from({ length: 5000 }, (_, i) => ({ org_id: `org-${i % 7}`, agent_id: `agent-${i}`, patch: { name: `Agent ${i}` } }));
    const file = manifest('chunks.ndjson', rows);
    const store = new BatchStore(redis, prefix);
    const result = await submitBatch({ store, file, manifestOptions: {}, batchId: 'chunks', options: FAST, chunk: 300 });
    expect(result).toMatchObject({ total: 5000, enqueued: 5000 });
    expect(result.meta).toMatchObject({ total: 5000, enqueued: true, status: 'running' });
    expect((await store.counts('chunks')).pending).toBe(5000);
    const queue = store.queue('chunks');
    expect((await queue.getJobCounts('waiting')).waiting).toBe(5000);
    await queue.close();
    const again = await submitBatch({ store, file, manifestOptions: {}, batchId: 'chunks', options: FAST, chunk: 300 });
    expect(again).toMatchObject({ total: 5000, enqueued: 0 });
    expect((await store.getBatch('chunks'))!.total).toBe(5000);
  });
});
