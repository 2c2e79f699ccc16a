/** Running batches in-process against the mock and a real Redis, for the engine's tests. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { NovaClient } from '../../src/api/client.js';
import { submitBatch } from '../../src/ops/create-batch.js';
import { WorkerPool } from '../../src/worker/worker-pool.js';
import type { MockApi } from '../../src/mock/server.js';
import { BatchStore } from '../../src/store/batch-store.js';
import type { BatchOptions } from '../../src/batch/records.js';
import { connectRedis } from '../../src/store/connect.js';
import type { ScriptClient } from '../../src/store/scripts.js';
import { REDIS_URL } from './redis.js';

let shared: { redis: ScriptClient; dir: string } | undefined;

/** A Redis connection and a temporary folder for manifests, both closed after the test file. */
export function engineFixtures(name: string): { redis: ScriptClient; dir: string; manifest: (file: string, rows: unknown[]) => string } {
  if (!shared) {
    shared = { redis: connectRedis(REDIS_URL), dir: mkdtempSync(path.join(os.tmpdir(), `nova-fleet-${name}-`)) };
    const mine = shared;
    afterAll(() => {
      mine.redis.disconnect();
      rmSync(mine.dir, { recursive: true, force: true });
    });
  }
  const { redis, dir } = shared;
  return {
    redis,
    dir,
    manifest: (file, rows) => {
      const full = path.join(dir, file);
      writeFileSync(full, rows.map((r) => JSON.stringify(r)).join('\n'));
      return full;
    },
  };
}

export const FAST: BatchOptions = { rate: 1000, attempts: 6, backoffMs: 20, backoffCapMs: 200 };

export const ENDED = ['completed', 'completed_with_failures', 'cancelled', 'halted'];

export async function startBatch(api: MockApi, prefix: string, file: string, batchId: string, options: BatchOptions = FAST, extra: { concurrency?: number; apiKey?: string; timeoutMs?: number; sockets?: number } = {}) {
  const concurrency = extra.concurrency ?? 8;
  const { redis } = engineFixtures('engine');
  const store = new BatchStore(redis, prefix);
  const client = new NovaClient({ baseUrl: api.url, apiKey: extra.apiKey ?? api.apiKey, timeoutMs: extra.timeoutMs ?? 2000, maxSockets: extra.sockets ?? concurrency });
  const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency, batchIds: [batchId], pollMs: 100 });
  await pool.start();
  const submitted = await submitBatch({ store, file, manifestOptions: {}, batchId, options });
  const waitFor = async (statuses: string[], timeoutMs = 25_000) => {
    const deadline = Date.now() + timeoutMs;
    let meta = await store.getBatch(batchId);
    while (meta && !statuses.includes(meta.status) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      meta = await store.getBatch(batchId);
    }
    return meta!;
  };
  const stop = async () => {
    await pool.close(2000);
    client.close();
  };
  return { store, pool, submitted, waitFor, stop };
}

export async function runToEnd(api: MockApi, prefix: string, file: string, batchId: string, options: BatchOptions = FAST, extra: Parameters<typeof startBatch>[5] = {}) {
  const run = await startBatch(api, prefix, file, batchId, options, extra);
  const meta = await run.waitFor(ENDED);
  await run.stop();
  return { store: run.store, meta, submitted: run.submitted, counts: await run.store.counts(batchId) };
}

/** The counters must always equal a tally of the per-agent statuses. */
export async function expectCountersMatch(store: BatchStore, batchId: string) {
  const tally: Record<string, number> = {};
  for await (const pairs of store.scanStatuses(batchId)) for (const [, status] of pairs) tally[status] = (tally[status] ?? 0) + 1;
  const counts = await store.counts(batchId);
  for (const [status, n] of Object.entries(counts)) expect(n, status).toBe(tally[status] ?? 0);
}


/** Work an existing batch (a rollback, a retry) in-process until it ends. */
export async function workToEnd(api: MockApi, prefix: string, batchId: string, extra: { concurrency?: number } = {}) {
  const { redis } = engineFixtures('engine');
  const store = new BatchStore(redis, prefix);
  const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: extra.concurrency ?? 8 });
  const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency: extra.concurrency ?? 8, batchIds: [batchId], pollMs: 50 });
  await pool.start();
  const deadline = Date.now() + 25_000;
  let meta = await store.getBatch(batchId);
  while (meta && !ENDED.includes(meta.status) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    meta = await store.getBatch(batchId);
  }
  await pool.close(2000);
  client.close();
  return { store, meta: meta!, counts: await store.counts(batchId) };
}
