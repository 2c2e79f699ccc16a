/**
 * An API that is down halts, it does not fail the fleet (SPEC §13): through the real CLI, `run` against
 * an API answering only 5xx halts with api_unreachable and exit 3, every agent still pending and no
 * attempt spent; once the API is back, `resume --run` finishes the batch with exit 0. And at a slow
 * rate, a single agent that always answers 503 among healthy ones still fails (the API is reachable).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchStore } from '../src/store/batch-store.js';
import { connectRedis } from '../src/store/connect.js';
import { runCli } from './helpers/cli.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-outage-'));
const redis = connectRedis(REDIS_URL);
afterAll(() => {
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

/** A mock API answering only 5xx, a prefix, the CLI's environment and a manifest renaming every agent. */
async function downApi(name: string, agents: number, newName: string) {
  const api = await startMock({ agents, failRate: 1 });
  const prefix = testPrefix(name);
  const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
  const file = path.join(dir, `${name}.ndjson`);
  writeFileSync(file, api.agentIds().map((a) => JSON.stringify({ ...a, patch: { name: newName } })).join('\n'));
  return { api, prefix, env, file };
}

describe('an API that is down', () => {
  it('halts the batch (api_unreachable, exit 3) with every agent pending; resume --run finishes it', async () => {
    const { api, prefix, env, file } = await downApi('outage', 10, 'After the outage');
    // Preflight refuses to start against an API that is down: exit 3, nothing created.
    const refused = await runCli(['run', file, '--rate', '10', '--batch', 'outage-1'], env);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('preflight: the Nova API could not be read for org');
    expect(await new BatchStore(redis, prefix).getBatch('outage-1')).toBeUndefined();
    const started = Date.now();
    // Preflight would refuse to start against an API that is down (exit 3, nothing created): skipped
    // here, this test is about a batch that meets the outage while it runs.
    const down = await runCli(['run', file, '--rate', '10', '--outage-halt', '2', '--batch', 'outage-1', '--no-preflight'], env);
    expect(down.code, down.stderr).toBe(3);
    expect(down.stdout).toContain('halted: api_unreachable: no request succeeded for 2 s');
    // Halted after the outage limit, well before 6 attempts with backoff would have failed anyone.
    expect(Date.now() - started).toBeLessThan(15_000);
    const store = new BatchStore(redis, prefix);
    expect(await store.counts('outage-1')).toMatchObject({ pending: 10, failed: 0, applied: 0 });
    for await (const pairs of store.scanStatuses('outage-1')) {
      for (const [key] of pairs) expect((await store.agentRecord('outage-1', key))!.attempts, key).toBe(0);
    }
    const served = api.stats().total;
    await new Promise((r) => setTimeout(r, 1500));
    expect(api.stats().total).toBe(served); // halted: nothing more is sent

    // Resumed while the API is still down: the outage clock starts again — the batch gets its whole
    // allowance (2 s of trying) before it halts once more, not a halt at the first error.
    const resumedAt = Date.now();
    const still = await runCli(['resume', 'outage-1', '--run'], env);
    expect(still.code, still.stderr).toBe(3);
    expect(Date.now() - resumedAt).toBeGreaterThan(2000);
    // It went on trying — backed off to about a request a second while the API looks down.
    expect(api.stats().total).toBeGreaterThan(served + 1);
    expect(await store.counts('outage-1')).toMatchObject({ pending: 10, failed: 0 });

    api.configure({ failRate: 0 });
    const back = await runCli(['resume', 'outage-1', '--run'], env);
    expect(back.code, back.stderr).toBe(0);
    expect(await store.counts('outage-1')).toMatchObject({ applied: 10, pending: 0, failed: 0 });
  }, 60_000);

  it('backs off while the API answers 503: about one request a second, not its --rate (issue 25: 6,003 requests in 60 s)', async () => {
    const { api, env, file } = await downApi('outage-backoff', 200, 'Backed off');
    const started = Date.now();
    const down = await runCli(['run', file, '--rate', '50', '--concurrency', '8', '--outage-halt', '6', '--no-preflight'], env);
    const seconds = (Date.now() - started) / 1000;
    expect(down.code, down.stderr).toBe(3);
    expect(down.stdout).toContain('api_unreachable');
    // At --rate 50 the outage would have met ~300 requests before its halt; backed off, a few per second.
    const sent = api.stats().total;
    expect(sent).toBeGreaterThan(3);
    expect(sent / seconds).toBeLessThan(5);
  }, 30_000);

  it('one agent that always answers 503 among healthy ones still fails: the API itself is reachable', async () => {
    const api = await startMock({ agents: 8 });
    const bad = api.agentIds()[7]!;
    api.configure({ agentStatus: { [bad.agent_id]: 503 } });
    const prefix = testPrefix('outage-one');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const file = path.join(dir, 'one-bad.ndjson');
    writeFileSync(file, api.agentIds().map((a) => JSON.stringify({ ...a, patch: { name: 'One bad apple' } })).join('\n'));
    const result = await runCli(['run', file, '--rate', '20', '--attempts', '2', '--outage-halt', '30', '--batch', 'one-bad'], env);
    expect(result.code, result.stderr).toBe(1);
    const store = new BatchStore(redis, prefix);
    expect(await store.counts('one-bad')).toMatchObject({ applied: 7, failed: 1 });
    expect((await store.getBatch('one-bad'))!.status).toBe('completed_with_failures');
  }, 60_000);
});
