/**
 * README promises that had no test: commands run as an operator runs them (worker with SIGINT and
 * --grace, status --watch, approve, export, prune, import), the key never written to Redis or any
 * output, the `halted` notification's payload, one --rate shared by every worker, the events stream
 * capped, and windows judged on the Redis clock rather than the worker's own.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NovaClient } from '../src/api/client.js';
import { submitBatch } from '../src/ops/create-batch.js';
import { WorkerPool } from '../src/worker/worker-pool.js';
import { BatchStore } from '../src/store/batch-store.js';
import type { BatchMeta } from '../src/batch/records.js';
import { collect, runCli, spawnCli } from './helpers/cli.js';
import { engineFixtures, FAST } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { keysUnder, REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest, redis, dir } = engineFixtures('promises');
const KEY = 'nk_live_promises_7f3c9a1b2d4e6f80';
const ended = (meta: BatchMeta | undefined) => meta !== undefined && ['completed', 'completed_with_failures', 'cancelled', 'halted'].includes(meta.status);

async function until<T>(read: () => Promise<T>, test: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (test(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 40));
  }
}

/** Every value stored under the prefix, whatever its type, as text. */
async function everythingUnder(prefix: string): Promise<string> {
  const parts: string[] = [];
  for (const key of await keysUnder(redis as Redis, prefix)) {
    const type = await redis.type(key);
    parts.push(key);
    if (type === 'string') parts.push((await redis.getBuffer(key))!.toString('latin1'));
    else if (type === 'hash') parts.push(...Object.entries(await redis.hgetallBuffer(key)).flatMap(([k, v]) => [k, v.toString('latin1')]));
    else if (type === 'list') parts.push(...(await redis.lrange(key, 0, -1)));
    else if (type === 'set') parts.push(...(await redis.smembers(key)));
    else if (type === 'zset') parts.push(...(await redis.zrange(key, '0', '-1')));
    else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
  }
  return parts.join('\n');
}

afterEach(() => {
  vi.useRealTimers();
});

describe('commands as an operator runs them', () => {
  it('worker, status --watch, approve, export, prune and import; the key is never in Redis or any output', async () => {
    const api = await startMock({ agents: 6, apiKey: KEY, latencyMs: 5 });
    const prefix = testPrefix('cli-staged');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: KEY, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const file = manifest('staged.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Approved by command' } })));
    const submitted = await runCli(['submit', file, '--batch', 'cli-staged', '--waves', '2,100%', '--approve', '--rate', '50'], env);
    expect(submitted.code, submitted.stderr).toBe(0);
    const worker = spawnCli(['worker', '--concurrency', '4', '--grace', '5', '--log-level', 'warn'], env);
    const workerDone = collect(worker);
    const watch = collect(spawnCli(['status', 'cli-staged', '--watch', '--interval', '0.2'], env));
    const store = new BatchStore(redis, prefix);
    expect((await until(() => store.getBatch('cli-staged'), (m) => m?.status === 'waiting_approval'))!.status).toBe('waiting_approval');
    const approved = await runCli(['approve', 'cli-staged'], env);
    expect(approved.code, approved.stderr).toBe(0);
    const watched = await watch;
    expect(watched.code).toBe(0);
    expect(watched.stdout).toContain('completed');
    expect(await store.counts('cli-staged')).toMatchObject({ applied: 6, pending: 0 });
    // SIGINT: the worker stops taking work and exits 0.
    worker.kill('SIGINT');
    expect((await workerDone).code).toBe(0);

    const report = await runCli(['report', 'cli-staged', '--format', 'json'], env);
    expect(report.code, report.stderr).toBe(0);
    const archive = path.join(dir, 'cli-staged.ndjson.gz');
    expect((await runCli(['export', 'cli-staged', archive], env)).code).toBe(0);
    // The key: nowhere in Redis, the report, the archive or what the commands printed.
    for (const text of [await everythingUnder(prefix), report.stdout, report.stderr, gunzipSync(readFileSync(archive)).toString(), watched.stdout, approved.stdout, submitted.stdout]) {
      expect(text.includes(KEY)).toBe(false);
    }
    expect((await everythingUnder(prefix)).length).toBeGreaterThan(1000);

    const pruned = await runCli(['prune', '--older-than', '0', '--yes'], env);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(await store.getBatch('cli-staged')).toBeUndefined();
    const imported = await runCli(['import', archive], env);
    expect(imported.code, imported.stderr).toBe(0);
    const again = await runCli(['report', 'cli-staged', '--format', 'json'], env);
    // The same rows; their order is the status hash's (HSCAN), which Redis does not keep across a rebuild.
    const rows = (text: string) => (JSON.parse(text) as Array<{ org_id: string; agent_id: string }>).sort((a, b) => `${a.org_id}/${a.agent_id}`.localeCompare(`${b.org_id}/${b.agent_id}`));
    expect(rows(again.stdout)).toEqual(rows(report.stdout));
    expect(rows(again.stdout)).toHaveLength(6);
  }, 60_000); // a dozen CLI processes in a row: ~25 s beside the whole suite on a loaded 2-core machine

  it('worker SIGINT with --grace: requests still in flight after the grace are aborted, and a later worker finishes them once', async () => {
    const api = await startMock({ agents: 3, apiKey: KEY, latencyMs: 4000, recordRequests: true });
    const prefix = testPrefix('cli-grace');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: KEY, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const file = manifest('grace.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'After the grace' } })));
    expect((await runCli(['submit', file, '--batch', 'cli-grace', '--rate', '50', '--no-preflight'], env)).code).toBe(0);
    const worker = spawnCli(['worker', '--concurrency', '3', '--grace', '1', '--log-level', 'warn'], env);
    const done = collect(worker);
    await until(async () => api.requests().length, (n) => n >= 3);
    const signalled = Date.now();
    worker.kill('SIGINT');
    expect((await done).code).toBe(0);
    // Gone after its 1 s grace, not after the 4 s requests (nor the default 30 s).
    expect(Date.now() - signalled).toBeLessThan(3500);
    const store = new BatchStore(redis, prefix);
    expect((await store.counts('cli-grace')).pending).toBe(3);
    api.configure({ latencyMs: 0 }); // the next worker need not wait 4 s per request
    const next = spawnCli(['worker', '--concurrency', '3', '--log-level', 'warn'], { ...env });
    const nextDone = collect(next);
    await until(() => store.getBatch('cli-grace'), ended, 30_000);
    next.kill('SIGINT');
    await nextDone;
    expect(await store.counts('cli-grace')).toMatchObject({ applied: 3, pending: 0, failed: 0 });
  }, 60_000);
});

describe('demo', () => {
  it('runs the whole story on embedded defaults: rollout, report, rollback, every agent verified restored', async () => {
    const prefix = testPrefix('demo');
    // A key and an API URL in the environment must not matter: the demo talks to its own mock.
    const demo = await runCli(['demo', '--latency', '0', '--prefix', prefix], { REDIS_URL, NOVA_API_KEY: '', NOVA_API_URL: 'http://127.0.0.1:9/api' });
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stdout + demo.stderr).toMatch(/Verified: 100\/100 agents equal their originals/);
  }, 60_000);
});

describe('worker --queue', () => {
  it('A B: one --concurrency for the process, not one per batch named', async () => {
    const api = await startMock({ agents: 8, latencyMs: 300, recordRequests: true });
    const prefix = testPrefix('cli-queues');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const ids = api.agentIds();
    for (const [name, part] of [['q-a', ids.slice(0, 4)], ['q-b', ids.slice(4)]] as const) {
      expect((await runCli(['submit', manifest(`${name}.ndjson`, part.map((a) => ({ ...a, patch: { name: 'Queued' } }))), '--batch', name, '--rate', '100', '--no-preflight'], env)).code).toBe(0);
    }
    const worker = spawnCli(['worker', '--queue', 'q-a', 'q-b', '--concurrency', '2', '--log-level', 'warn'], env);
    const done = collect(worker);
    const store = new BatchStore(redis, prefix);
    await until(async () => [await store.getBatch('q-a'), await store.getBatch('q-b')], (metas) => metas.every(ended), 30_000);
    worker.kill('SIGINT');
    expect((await done).code).toBe(0);
    const times = api.requests().map((r) => r.t).sort((a, b) => a - b);
    expect(times).toHaveLength(16);
    // Each request takes 300 ms: more than 2 arriving within 250 ms means more than 2 were in flight.
    const crowded = Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + 250).length));
    expect(crowded).toBeLessThanOrEqual(2);
  }, 45_000);
});

describe('notifications', () => {
  it('a halt posts {event: "halted", batch, status, reason, counts, at}, once', async () => {
    const events: Array<Record<string, unknown>> = [];
    const hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        events.push(JSON.parse(body) as Record<string, unknown>);
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    try {
      const api = await startMock({ agents: 4 });
      const prefix = testPrefix('notify-halt');
      const store = new BatchStore(redis, prefix);
      const rows = api.agentIds().map((a) => ({ ...a, patch: { name: 'x' } }));
      // Three agents that do not exist: 404s exceed a budget of 1.
      const missing = ['m1', 'm2', 'm3'].map((id) => ({ org_id: rows[0]!.org_id, agent_id: id, patch: { name: 'x' } }));
      const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
      const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency: 1, pollMs: 50 });
      await pool.start();
      const { port } = hook.address() as { port: number };
      await submitBatch({ store, file: manifest('notify-halt.ndjson', [...missing, ...rows]), manifestOptions: {}, batchId: 'notify-halt', options: FAST, controls: { maxFailures: 1, notifyUrl: `http://127.0.0.1:${port}/hook` } });
      await until(() => store.getBatch('notify-halt'), ended);
      await until(async () => events.length, (n) => n > 0, 5000);
      await pool.close(2000);
      client.close();
      expect(events).toHaveLength(1);
      const [event] = events as [Record<string, unknown>];
      expect(event).toMatchObject({ event: 'halted', batch: 'notify-halt', status: 'halted' });
      expect(String(event.reason)).toMatch(/^error_budget: /);
      expect((event.counts as Record<string, number>).failed).toBeGreaterThanOrEqual(2);
      expect(Math.abs(Date.parse(String(event.at)) - Date.now())).toBeLessThan(60_000);
    } finally {
      hook.close();
    }
  });
});

describe('shared budgets and bounded Redis', () => {
  it('--rate is one budget for every worker of the batch: two pools together keep to it', async () => {
    const api = await startMock({ agents: 20, latencyMs: 2, recordRequests: true });
    const prefix = testPrefix('shared-rate');
    const store = new BatchStore(redis, prefix);
    const clients = [0, 1].map(() => new NovaClient({ baseUrl: api.url, apiKey: api.apiKey }));
    const pools = clients.map((client) => new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency: 8, pollMs: 50 }));
    await Promise.all(pools.map((pool) => pool.start()));
    await submitBatch({ store, file: manifest('shared-rate.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Shared' } }))), manifestOptions: {}, batchId: 'shared-rate', options: { ...FAST, rate: 20 } });
    await until(() => store.getBatch('shared-rate'), ended);
    await Promise.all(pools.map((pool) => pool.close(2000)));
    for (const client of clients) client.close();
    const times = api.requests().map((r) => r.t).sort((a, b) => a - b);
    expect(times).toHaveLength(40);
    // 40 requests at 20/s: about 2 s however many workers (each alone at 20/s would take 1 s).
    expect(times.at(-1)! - times[0]!).toBeGreaterThan(1700);
    // And no second holds much more than the rate (slots are 50 ms apart in Redis; a late event loop
    // sends a few together, but two unshared pools would reach 40).
    const busiest = Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + 1000).length));
    expect(busiest).toBeLessThanOrEqual(30);
    // Both pools took part.
    expect(new Set((await Promise.all(api.agentIds().map(async (a) => (await store.agentRecord('shared-rate', `${a.org_id}/${a.agent_id}`))!.status))))).toEqual(new Set(['applied']));
  });

  it("a batch's events stream stays capped near 1,000 entries however many jobs ran", async () => {
    const api = await startMock({ agents: 400, latencyMs: 0, promptBytes: 100 });
    const prefix = testPrefix('events-cap');
    const store = new BatchStore(redis, prefix);
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: 16 });
    const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency: 16, pollMs: 50 });
    await pool.start();
    await submitBatch({ store, file: manifest('events-cap.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Capped' } }))), manifestOptions: {}, batchId: 'events-cap', options: { ...FAST, rate: 5000 } });
    await until(() => store.getBatch('events-cap'), ended, 60_000);
    await pool.close(2000);
    client.close();
    const queue = store.queue('events-cap');
    const eventsKey = `${queue.keys.events}`;
    await queue.close();
    // 400 jobs write at least 4 events each (added, waiting, active, completed): 1,600 uncapped.
    const length = await redis.xlen(eventsKey);
    expect(length).toBeGreaterThan(500);
    expect(length).toBeLessThan(1200);
  });
});

describe('the Redis clock', () => {
  it('a worker whose own clock is 3 hours off still judges the window on the Redis clock', async () => {
    const redisNow = Number((await redis.time())[0]) * 1000;
    const hhmm = (t: number) => new Date(t).toISOString().slice(11, 16);
    // Open now by Redis's clock (for about half an hour), shut by a clock 3 hours ahead.
    const window = `${hhmm(redisNow - 60_000)}-${hhmm(redisNow + 30 * 60_000)} UTC`;
    const api = await startMock({ agents: 4, latencyMs: 2 });
    const prefix = testPrefix('redis-clock');
    const store = new BatchStore(redis, prefix);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 3 * 3600_000, shouldAdvanceTime: true });
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
    const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency: 4, pollMs: 50 });
    await pool.start();
    try {
      await submitBatch({ store, file: manifest('redis-clock.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'On Redis time' } }))), manifestOptions: {}, batchId: 'redis-clock', options: FAST, controls: { window } });
      const meta = await until(() => store.getBatch('redis-clock'), ended, 15_000);
      expect(meta!.status).toBe('completed');
      expect(await store.counts('redis-clock')).toMatchObject({ applied: 4 });
    } finally {
      await pool.close(2000);
      client.close();
    }
  });
});

// The key check above is only as good as the scan: it must see the data that is there.
describe('everythingUnder', () => {
  it('reads every type of key', async () => {
    const prefix = testPrefix('scan-types');
    await redis.set(`${prefix}:s`, 'needle-1');
    await redis.hset(`${prefix}:h`, 'f', 'needle-2');
    await redis.rpush(`${prefix}:l`, 'needle-3');
    await redis.sadd(`${prefix}:t`, 'needle-4');
    await redis.zadd(`${prefix}:z`, '1', 'needle-5');
    await redis.xadd(`${prefix}:x`, '*', 'f', 'needle-6');
    const text = await everythingUnder(prefix);
    for (let i = 1; i <= 6; i++) expect(text).toContain(`needle-${i}`);
  });
});
