/**
 * Requests counted by kind per batch (issue 28, SPEC §15): what a batch cost the API's budget, and per
 * agent it changed — in status, the report's note, the metrics and the dashboard's data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../src/cli/run.js';
import { statusCommand } from '../src/cli/status.js';
import { rollbackCommand } from '../src/cli/rollback.js';
import { createOutput } from '../src/cli/output.js';
import { BatchStore } from '../src/store/batch-store.js';
import { engineFixtures } from './helpers/engine.js';
import { capture } from './helpers/capture.js';
import { startMock } from './helpers/mock.js';
import { testPrefix } from './helpers/redis.js';
import { runCli } from './helpers/cli.js';

const { manifest, redis } = engineFixtures('requests');
const saved = { ...process.env };
const never = new Promise<never>(() => {});

beforeAll(() => {
  process.env.REDIS_URL = process.env.NOVA_FLEET_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
});
afterAll(() => {
  process.env = saved;
});

describe('requests per changed agent', () => {
  it('a run counts every GET and PATCH it sent (2 unchanged agents: a GET only), shows them per changed agent; its rollback counts its own', async () => {
    const api = await startMock({ agents: 10, orgs: 2 });
    const prefix = testPrefix('requests');
    Object.assign(process.env, { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, NOVA_FLEET_PREFIX: prefix });
    const ids = api.agentIds();
    // Two agents already carry the new name: read, found unchanged, never PATCHed.
    const file = manifest('requests.ndjson', ids.map((a, i) => ({ ...a, patch: { name: i < 2 ? String(api.agent(a.org_id, a.agent_id)!.name) : 'Counted' } })));
    const notes = capture();
    const code = await runCommand(file, { rate: 200, batch: 'counted', metricsPort: 0, preflight: false }, createOutput(true, capture().stream, notes.stream), never);
    expect(code).toBe(0);
    const store = new BatchStore(redis, prefix);
    expect(await store.requestCounts('counted')).toEqual({ get: 10, patch: 8, list: 0, calls: 0 });
    // The mock saw the same: nothing sent is left uncounted.
    expect(api.stats().byMethod).toEqual({ GET: 10, PATCH: 8 });
    const status = capture();
    await statusCommand('counted', {}, createOutput(false, status.stream, status.stream));
    expect(status.text()).toContain('  requests  18 (GET 10, PATCH 8) — 2.25 per changed agent\n');
    const json = capture();
    await statusCommand('counted', {}, createOutput(true, json.stream, capture().stream));
    expect((JSON.parse(json.text()) as { requests: unknown }).requests).toEqual({ get: 10, patch: 8, list: 0, calls: 0, total: 18, perChanged: 2.25 });

    const undo = capture();
    expect(await rollbackCommand('counted', { run: true }, createOutput(true, undo.stream, capture().stream), never)).toBe(0);
    const rollback = JSON.parse(undo.text()) as { meta: { id: string }; requests: { get: number; patch: number; perChanged: number } };
    // The 2 unchanged agents cost the rollback nothing; the 8 it restored a GET and a PATCH each.
    expect(rollback.requests).toMatchObject({ get: 8, patch: 8, perChanged: 2 });
  }, 30_000);

  it('a batch that cannot finish before its deadline at its rate is refused with both figures (exit 2, nothing created) — unless --allow-overrun', async () => {
    const api = await startMock({ agents: 100, orgs: 2 });
    const prefix = testPrefix('overrun');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, NOVA_FLEET_PREFIX: prefix, REDIS_URL: process.env.REDIS_URL! };
    const file = manifest('overrun.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Late' } })));
    const deadline = new Date(Date.now() + 90_000).toISOString();
    const refused = await runCli(['submit', file, '--rate', '1', '--deadline', deadline, '--no-preflight'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/this batch cannot finish before its deadline: it needs ~3 min \(200 requests at 1\/s\), and its schedule leaves (8\d|90) s before --deadline /);
    expect(refused.stderr).toContain('--allow-overrun');
    expect(refused.stderr).not.toContain('→ batch'); // refused before anything is said to be made
    expect(await new BatchStore(redis, prefix).listBatchIds()).toEqual([]);
    // Waves' bakes count too; and at a rate that fits, it is created.
    const baked = await runCli(['submit', file, '--rate', '100', '--waves', '10%,100%', '--bake', '2m', '--deadline', deadline, '--no-preflight'], env);
    expect(baked.code).toBe(2);
    expect(baked.stderr).toMatch(/needs ~2 min \(200 requests at 100\/s, and 1 bake of 2 min\)/);
    const anyway = await runCli(['submit', file, '--rate', '1', '--deadline', deadline, '--allow-overrun', '--no-preflight'], env);
    expect(anyway.code, anyway.stderr).toBe(0);
    expect(anyway.stderr).toMatch(/cannot finish before its deadline — it needs ~3 min .*--allow-overrun: agents not reached by then will be skipped/);
  }, 30_000);

  it('--write-rate: PATCHes paced at it inside --rate, while the reads go at the full rate', async () => {
    const api = await startMock({ agents: 12, orgs: 1, recordRequests: true });
    const prefix = testPrefix('writes');
    Object.assign(process.env, { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, NOVA_FLEET_PREFIX: prefix });
    const file = manifest('writes.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Written slowly' } })));
    const code = await runCommand(file, { rate: 50, writeRate: 4, concurrency: 12, batch: 'writes', preflight: false }, createOutput(true, capture().stream, capture().stream), never);
    expect(code).toBe(0);
    const times = (method: string) => api.requests().filter((r) => r.method === method).map((r) => r.t).sort((a, b) => a - b);
    const patches = times('PATCH');
    const gets = times('GET');
    expect(patches).toHaveLength(12);
    // 12 PATCHes at 4/s span at least 11 × 250 ms (a little jitter allowed); the 12 GETs at 50/s far less.
    expect(patches.at(-1)! - patches[0]!).toBeGreaterThanOrEqual(2500);
    expect(gets.at(-1)! - gets[0]!).toBeLessThan(1500);
    const gaps = patches.slice(1).map((t, i) => t - patches[i]!);
    expect(gaps.filter((gap) => gap < 150)).toEqual([]);
  }, 30_000);
});
