/**
 * Finishing in another window (issue 24, defect 5): `retry` takes `--window` and `--deadline`, so the
 * agents a window or a cancel skipped wait for the *new* window; a deadline already past is refused
 * (it would skip every agent before one request).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NovaClient } from '../src/api/client.js';
import { stepBatch } from '../src/controller/controller.js';
import { WorkerPool } from '../src/worker/worker-pool.js';
import { BatchStore } from '../src/store/batch-store.js';
import { runCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { redis } = engineFixtures('retry-window');
const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-retry-window-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A window that opens two hours from now (UTC), so it is shut for the whole test. */
function shutWindow(): string {
  const hour = (new Date().getUTCHours() + 2) % 24;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(hour)}:00-${two((hour + 1) % 24)}:00 UTC`;
}

/** A mock, a prefix, the environment for the CLI, and a manifest of every agent: a submitted, cancelled batch. */
async function cancelledBatch(name: string, agents: number) {
  const api = await startMock({ agents });
  const prefix = testPrefix(name);
  const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
  const file = path.join(dir, `${name}.ndjson`);
  writeFileSync(file, api.agentIds().map((a) => JSON.stringify({ ...a, patch: { name: `Retried ${name}` } })).join('\n'));
  return { api, prefix, env, file };
}

/** Submits `file` and cancels its batch (every agent skipped); its id. */
async function submitAndCancel(file: string, env: Record<string, string>): Promise<string> {
  const made = await runCli(['submit', file, '--json', '--no-preflight'], env);
  const batchId = (JSON.parse(made.stdout) as { batchId: string }).batchId;
  expect((await runCli(['cancel', batchId], env)).code).toBe(0);
  return batchId;
}

describe('retry in another window', () => {
  it('a past --deadline is refused by submit and retry (exit 2, nothing created or reopened)', async () => {
    const { prefix, env, file } = await cancelledBatch('past-deadline', 3);
    const past = new Date(Date.now() - 60_000).toISOString();
    const submitted = await runCli(['submit', file, '--deadline', past], env);
    expect(submitted.code, submitted.stderr).toBe(2);
    expect(submitted.stderr).toContain('has already passed');
    expect(await new BatchStore(redis, prefix).listBatchIds()).toEqual([]);
    const batchId = await submitAndCancel(file, env);
    const retried = await runCli(['retry', batchId, '--skipped', '--deadline', past], env);
    expect(retried.code).toBe(2);
    expect(retried.stderr).toContain('has already passed');
    expect((await new BatchStore(redis, prefix).getBatch(batchId))!.status).toBe('cancelled');
  }, 30_000);

  it('retry --skipped --window: the skipped agents wait for the new window, sending nothing while it is shut', async () => {
    const { api, prefix, env, file } = await cancelledBatch('new-window', 4);
    const batchId = await submitAndCancel(file, env);
    const window = shutWindow();
    const later = new Date(Date.now() + 3 * 86_400_000).toISOString();
    const retried = await runCli(['retry', batchId, '--skipped', '--window', window, '--deadline', later], env);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stderr).toContain(`inside "${window}"`);
    const store = new BatchStore(redis, prefix);
    const meta = (await store.getBatch(batchId))!;
    expect(meta.window).toBe(window);
    expect(meta.deadline).toBe(Date.parse(later));
    // A worker serves it for a while: the controller moves it to waiting_window, and no request goes out.
    api.resetStats();
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
    const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency: 4, batchIds: [batchId], pollMs: 50 });
    await pool.start();
    await stepBatch(store, batchId);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await pool.close(2000);
    client.close();
    expect((await store.getBatch(batchId))!.status).toBe('waiting_window');
    expect(api.stats().total).toBe(0);
    expect((await store.counts(batchId)).pending).toBe(4);
  }, 30_000);
});
