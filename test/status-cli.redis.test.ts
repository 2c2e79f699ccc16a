/**
 * Status says what an operator must know to get a batch moving (SPEC §13): no live worker serving it,
 * a verification waiting for a `--run-verify` worker, the next opening of a window not open yet; and
 * `batches` shows a rollback's restored and conflict counts. Through the real CLI.
 */
import { describe, expect, it } from 'vitest';
import { NovaClient } from '../src/api/client.js';
import { createRollback } from '../src/ops/create-rollback.js';
import { WorkerPool } from '../src/worker/worker-pool.js';
import { BatchStore } from '../src/store/batch-store.js';
import { runCli } from './helpers/cli.js';
import { engineFixtures, workToEnd } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('status-cli');

async function until(test: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(await test()).toBe(true);
}

describe('status tells what is missing', () => {
  it('a batch nobody serves says so and what to start; once a worker runs, it does not', async () => {
    const api = await startMock({ agents: 6 });
    const prefix = testPrefix('status-nobody');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const file = manifest('nobody.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Served' } })));
    expect((await runCli(['submit', file, '--batch', 'nobody-1'], env)).code).toBe(0);
    const alone = await runCli(['status', 'nobody-1'], env);
    expect(alone.stdout).toContain('attention no live worker serves this batch, so nothing happens: start `nova-fleet worker`');
    const listed = await runCli(['batches'], env);
    expect(listed.stdout).toMatch(/nobody-1 .* no worker/);

    // A worker serving every batch (paused so that the batch stays unfinished while we look).
    const store = new BatchStore(redis, prefix);
    await store.transition('nobody-1', 'paused', ['running']);
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
    const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, pollMs: 100 });
    await pool.start();
    await store.transition('nobody-1', 'running', ['paused']);
    const served = await runCli(['status', 'nobody-1', '--json'], env);
    expect((JSON.parse(served.stdout) as { attention: string[] }).attention).toEqual([]);
    await pool.close(2000);
    client.close();
    // A worker that closed cleanly leaves the list at once.
    expect(await store.liveWorkers(0)).toEqual([]);
  }, 30_000);

  it('a verification gate with no --run-verify worker says it waits for one', async () => {
    const api = await startMock({ agents: 4 });
    const prefix = testPrefix('status-verify');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const file = manifest('verify.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Verified' } })));
    expect((await runCli(['submit', file, '--batch', 'verify-1', '--rate', '100', '--waves', '1,100%', '--verify-cmd', 'true'], env)).code).toBe(0);
    const store = new BatchStore(redis, prefix);
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
    const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, pollMs: 100 }); // without runVerify
    await pool.start();
    await until(async () => (await store.getBatch('verify-1'))!.waveDoneAt !== undefined);
    const waiting = await runCli(['status', 'verify-1'], env);
    expect(waiting.stdout).toContain('wave 1 is done and its verification waits for a worker allowed to run it: start `nova-fleet worker --run-verify`');
    expect((await store.getBatch('verify-1'))!.status).toBe('running');
    await pool.close(2000);
    client.close();
  }, 30_000);

  it('a window that has not opened yet shows its next opening', async () => {
    const api = await startMock({ agents: 2 });
    const prefix = testPrefix('status-window');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const file = manifest('window.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Later' } })));
    // Opens two hours from now (UTC), for an hour.
    const opens = new Date(Math.ceil((Date.now() + 2 * 3_600_000) / 60_000) * 60_000);
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    const window = `${hhmm(opens)}-${hhmm(new Date(opens.getTime() + 3_600_000))} UTC`;
    expect((await runCli(['submit', file, '--batch', 'window-1', '--window', window], env)).code).toBe(0);
    const status = await runCli(['status', 'window-1'], env);
    expect(status.stdout).toContain('waiting_window');
    expect(status.stdout).toContain(`next opening ${opens.toISOString()}`);
  });

  it('batches shows a rollback’s restored and conflict counts', async () => {
    const api = await startMock({ agents: 5 });
    const prefix = testPrefix('status-rollback');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const file = manifest('rb.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'To undo' } })));
    expect((await runCli(['run', file, '--batch', 'rb-1', '--rate', '200'], env)).code).toBe(0);
    const store = new BatchStore(redis, prefix);
    const first = api.agentIds()[0]!;
    const editor = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
    await editor.patchAgent(first.org_id, first.agent_id, { name: 'Edited by someone else' });
    editor.close();
    const { meta } = await createRollback({ store, originId: 'rb-1' });
    await workToEnd(api, prefix, meta.id);
    const listed = await runCli(['batches', '--json'], env);
    const row = (JSON.parse(listed.stdout) as Array<{ id: string; counts: Record<string, number> }>).find((r) => r.id === meta.id)!;
    expect(row.counts).toMatchObject({ restored: 4, conflict: 1 });
    const table = await runCli(['batches'], env);
    const header = table.stdout.split('\n')[0]!.split(/\s{2,}/);
    const line = table.stdout.split('\n').find((l) => l.startsWith(meta.id))!.split(/\s{2,}/);
    expect(line[header.indexOf('restored')]).toBe('4');
    expect(line[header.indexOf('conflict')]).toBe('1');
  }, 30_000);
});
