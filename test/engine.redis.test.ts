/** The engine end to end: real Redis, real BullMQ, the real mock over loopback. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NovaClient } from '../src/api/client.js';
import { submitBatch } from '../src/engine/submit.js';
import { WorkerPool } from '../src/engine/worker-pool.js';
import type { MockApi } from '../src/mock/server.js';
import { BatchStore, type BatchOptions } from '../src/store/batch-store.js';
import { connectRedis } from '../src/store/connect.js';
import { agentKey } from '../src/store/keys.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-engine-'));
const redis = connectRedis(REDIS_URL);
afterAll(() => {
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const FAST: BatchOptions = { rate: 1000, attempts: 6, backoffMs: 20, backoffCapMs: 200 };

function manifest(name: string, rows: unknown[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n'));
  return file;
}

async function runToEnd(api: MockApi, prefix: string, file: string, batchId: string, options: BatchOptions = FAST, concurrency = 8) {
  const store = new BatchStore(redis, prefix);
  const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, timeoutMs: 2000, maxSockets: concurrency });
  const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency, batchId, pollMs: 100 });
  await pool.start();
  const submitted = await submitBatch({ store, file, manifestOptions: {}, batchId, options });
  const deadline = Date.now() + 25_000;
  let meta = await store.getBatch(batchId);
  while (meta && !['completed', 'completed_with_failures', 'cancelled', 'halted'].includes(meta.status) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    meta = await store.getBatch(batchId);
  }
  await pool.close(2000);
  client.close();
  return { store, meta: meta!, submitted, counts: await store.counts(batchId) };
}

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
