/**
 * The API key's budget through the whole engine (SPEC §5, §10), not only the limiter's unit test: two
 * batches on one key share its rate, a 429 met by one slows the other, the rate climbs back once 429s
 * stop — each a mutant that survived the suite before issue 24. And a selector's `where` is checked
 * again right before the PATCH.
 */
import { describe, expect, it } from 'vitest';
import { NovaClient } from '../src/api/client.js';
import { keyId } from '../src/api/credentials.js';
import { submitBatch } from '../src/ops/create-batch.js';
import { WorkerPool } from '../src/worker/worker-pool.js';
import type { MockApi } from '../src/mock/server.js';
import { BatchStore } from '../src/store/batch-store.js';
import { runCli } from './helpers/cli.js';
import { engineFixtures, ENDED } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('key-budget');

/** Two batches of the same prefix, each over half of the mock's agents, worked by one pool on one key. */
async function twoBatches(api: MockApi, name: string, rate: number) {
  const prefix = testPrefix(name);
  const store = new BatchStore(redis, prefix);
  // A worker per batch (as two `run`s would have): neither waits for the other's places.
  const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: 8 });
  const pools = ['a', 'b'].map((b) => new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency: 4, pollMs: 50, batchIds: [`${name}-${b}`] }));
  const ids = api.agentIds();
  const half = Math.floor(ids.length / 2);
  const groups = { a: ids.slice(0, half), b: ids.slice(half) };
  const options = { rate, attempts: 6, backoffMs: 20, backoffCapMs: 200 };
  for (const [batch, rows] of Object.entries(groups)) {
    await submitBatch({ store, file: manifest(`${name}-${batch}.ndjson`, rows.map((a) => ({ ...a, patch: { name: `Batch ${batch}` } }))), manifestOptions: {}, batchId: `${name}-${batch}`, options });
  }
  for (const pool of pools) await pool.start();
  const finished = async (timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const metas = await Promise.all(['a', 'b'].map((b) => store.getBatch(`${name}-${b}`)));
      if (metas.every((m) => m && ENDED.includes(m.status)) || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await Promise.all(pools.map((pool) => pool.close(2000)));
    client.close();
  };
  return { store, groups, finished };
}

/** The most requests the log holds in any window of `ms`. */
function busiest(times: number[], ms: number): number {
  const sorted = [...times].sort((x, y) => x - y);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= ms) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

describe("one key's budget across batches", () => {
  it('two batches at --rate 10 on one key get 10 requests/s together, not 20', async () => {
    const api = await startMock({ agents: 24, orgs: 2, recordRequests: true });
    const run = await twoBatches(api, 'shared', 10);
    await run.finished();
    const times = api.requests().map((r) => r.t);
    expect(times).toHaveLength(48); // a GET and a PATCH per agent
    // Alone, each batch would take 10/s: together 20/s. Shared, the key allows 10/s in all (a burst
    // of a few slots at the start, as both batches reserve their first slot at once).
    expect(busiest(times, 1000)).toBeLessThanOrEqual(13);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(4000);
  }, 40_000);

  it('a 429 met by one batch slows the other batch on the same key for its Retry-After', async () => {
    let limitedAt = 0;
    let asked: Set<string> = new Set();
    const api = await startMock({
      agents: 24,
      orgs: 2,
      recordRequests: true,
      intercept: (request) => {
        // The first PATCH of batch a's agents after a second of work is told to wait 2 s.
        if (limitedAt === 0 && request.method === 'PATCH' && asked.has(request.agentId ?? '') && request.n > 10) {
          limitedAt = Date.now();
          return { status: 429, body: { detail: 'Too many requests' }, headers: { 'retry-after': '2' } };
        }
        return undefined;
      },
    });
    const run = await twoBatches(api, 'penalty', 10);
    asked = new Set(run.groups.a.map((a) => a.agent_id));
    await run.finished();
    expect(limitedAt).toBeGreaterThan(0);
    const others = api.requests().filter((r) => !asked.has(r.agentId ?? '')).map((r) => r.t);
    // Batch b's requests already past their gate may still arrive; after that, nothing of b until the
    // key's Retry-After has passed (its slots reserved before the 429 are stale, its new ones pushed).
    const quiet = others.filter((t) => t > limitedAt + 150 && t < limitedAt + 1850);
    expect(quiet).toEqual([]);
    expect(others.some((t) => t > limitedAt + 2000)).toBe(true);
  }, 40_000);

  it('after 429s stop, the key’s rate climbs back toward the full rate', async () => {
    const store = new BatchStore(redis, testPrefix('recovery'));
    const key = keyId('recovering-key');
    const full = await store.reserveKeySlot(key, 20, 30_000, 5000);
    expect(full.rateMilli).toBe(20_000);
    await store.penalizeKey(key, 100, 0.1);
    const halved = (await store.reserveKeySlot(key, 20, 30_000, 5000)).rateMilli;
    expect(halved).toBeLessThanOrEqual(10_500);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    // 3 s of a 30 s recovery: about a tenth of the way back (10/s → ~11/s).
    const later = (await store.reserveKeySlot(key, 20, 30_000, 5000)).rateMilli;
    expect(later).toBeGreaterThan(halved + 600);
    expect(later).toBeLessThan(20_000);
  }, 20_000);
});

describe("a selector's where", () => {
  it('is checked again on the agent read right before its PATCH: an agent edited since the selection is skipped, untouched', async () => {
    const api = await startMock({ agents: 8, orgs: 1 });
    const org = api.orgIds[0]!;
    const prefix = testPrefix('where-again');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const file = manifest('where.json', []);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, JSON.stringify({ defaults: { patch: { goodbye_config: { message: 'Selected bye' } } }, select: { orgs: [org], where: { 'goodbye_config.enabled': true } } }));
    const submitted = await runCli(['submit', file, '--batch', 'where-1', '--json'], env);
    expect(submitted.code, submitted.stderr).toBe(0);
    const store = new BatchStore(redis, prefix);
    const selected: string[] = [];
    for await (const pairs of store.scanStatuses('where-1')) for (const [key] of pairs) selected.push(key.split('/')[1]!);
    expect(selected.length).toBeGreaterThan(1);
    // Someone turns goodbye off on one selected agent before any worker has reached it.
    const edited = selected[0]!;
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
    await client.patchAgent(org, edited, { goodbye_config: { enabled: false, message: 'Theirs' } });
    client.close();
    const worked = await runCli(['resume', 'where-1', '--run'], env);
    expect(worked.code, worked.stderr).toBe(1); // one agent skipped
    const record = (await store.agentRecord('where-1', `${org}/${edited}`))!;
    expect(record.status).toBe('skipped');
    expect(record.error).toBe('precondition: goodbye_config.enabled is false, expected true');
    expect(api.agent(org, edited)!.goodbye_config).toEqual({ enabled: false, message: 'Theirs' });
    expect(await store.counts('where-1')).toMatchObject({ applied: selected.length - 1, skipped: 1 });
  }, 40_000);
});
