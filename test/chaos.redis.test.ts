/**
 * Chaos, bounded in time: workers SIGKILLed and restarted, Redis killed and restarted, the API down
 * then back. After each, the same invariants: every agent as the manifest says, before snapshots equal
 * the originals, no `$replace` applied twice, the counters equal the per-agent statuses.
 *
 * `npm test` runs short versions; `npm run chaos` (CHAOS=long) the long ones of the issue: 3,000 agents
 * with a worker killed every few seconds, and a 20-second API outage with the default backoff.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NovaClient } from '../src/api/client.js';
import type { Agent } from '../src/api/types.js';
import { submitBatch } from '../src/engine/submit.js';
import { WorkerPool } from '../src/engine/worker-pool.js';
import type { MockApi } from '../src/mock/server.js';
import { BatchStore, type BatchOptions } from '../src/store/batch-store.js';
import { connectRedis, freePort } from '../src/store/connect.js';
import { agentKey } from '../src/store/keys.js';
import { collect, runCli, spawnCli } from './helpers/cli.js';
import { engineFixtures, expectCountersMatch } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const LONG = process.env.CHAOS === 'long';
const { manifest, redis } = engineFixtures('chaos');

/** The patch every chaos batch applies: detectably not idempotent if applied twice. */
const PATCH = { prompt_template: { $replace: { find: 'Role', with: 'Role Role' } }, goodbye_config: { message: 'Bye (chaos)' } };

function snapshot(api: MockApi): Map<string, Agent> {
  return new Map(api.agentIds().map((a) => [agentKey(a.org_id, a.agent_id), api.agent(a.org_id, a.agent_id)!]));
}

async function expectInvariants(api: MockApi, store: BatchStore, batchId: string, originals: Map<string, Agent>) {
  expect((await store.getBatch(batchId))!.status).toBe('completed');
  expect(await store.counts(batchId)).toMatchObject({ applied: originals.size, pending: 0, failed: 0 });
  for (const [key, original] of originals) {
    const [orgId, agentId] = key.split('/') as [string, string];
    const now = api.agent(orgId, agentId)!;
    expect(now.prompt_template, key).toBe(String(original.prompt_template).split('Role').join('Role Role'));
    expect((now.goodbye_config as { message: string }).message).toBe('Bye (chaos)');
    expect((await store.agentRecord(batchId, key))!.before, key).toEqual(original);
  }
  await expectCountersMatch(store, batchId);
}

async function waitForEnd(store: BatchStore, batchId: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const meta = await store.getBatch(batchId).catch(() => undefined);
    if (meta && ['completed', 'completed_with_failures', 'halted', 'cancelled'].includes(meta.status)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('chaos', () => {
  it(`(a) three workers, one SIGKILLed and restarted every ${LONG ? 3 : 1.5} s, drops after apply on (${LONG ? 3000 : 300} agents)`, async () => {
    const agents = LONG ? 3000 : 300;
    const api = await startMock({ agents, latencyMs: 10, dropAfterRate: 0.05, promptBytes: 800 });
    const originals = snapshot(api);
    const prefix = testPrefix('chaos-kill');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    expect((await runCli(['submit', manifest('kill.ndjson', api.agentIds().map((a) => ({ ...a, patch: PATCH }))), '--batch', 'chaos-kill', '--rate', '400'], env)).code).toBe(0);
    const args = ['worker', '--concurrency', '6', '--lock-duration', '1000', '--log-level', 'warn'];
    const workers = [spawnCli(args, env), spawnCli(args, env), spawnCli(args, env)];
    const store = new BatchStore(redis, prefix);
    let kills = 0;
    const deadline = Date.now() + (LONG ? 240_000 : 60_000);
    while (Date.now() < deadline && (await store.getBatch('chaos-kill'))!.status === 'running') {
      await new Promise((r) => setTimeout(r, LONG ? 3000 : 1500));
      const victim = kills % workers.length;
      workers[victim]!.kill('SIGKILL');
      workers[victim] = spawnCli(args, env);
      kills++;
    }
    await waitForEnd(store, 'chaos-kill', 30_000);
    const exits = workers.map((w) => collect(w));
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(exits);
    expect(kills).toBeGreaterThan(0);
    await expectInvariants(api, store, 'chaos-kill', originals);
  }, LONG ? 300_000 : 90_000);

  it('(b) Redis killed with SIGKILL mid-batch and restarted from its append-only file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-chaos-redis-'));
    const port = await freePort();
    const start = () =>
      execFileSync('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'yes', '--pidfile', path.join(dir, 'redis.pid'), '--logfile', path.join(dir, 'redis.log')]);
    const waitUp = async () => {
      for (let i = 0; i < 100 && spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout.toString().trim() !== 'PONG'; i++) await new Promise((r) => setTimeout(r, 100));
    };
    start();
    await waitUp();
    const url = `redis://127.0.0.1:${port}`;
    const privateRedis = connectRedis(url);
    try {
      const api = await startMock({ agents: 200, latencyMs: 15, dropAfterRate: 0.05, promptBytes: 800 });
      const originals = snapshot(api);
      const store = new BatchStore(privateRedis, 'chaos');
      const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: 8 });
      const pool = new WorkerPool({ redisUrl: url, prefix: 'chaos', client, concurrency: 8, pollMs: 100, lockDurationMs: 2000, stalledIntervalMs: 1000 });
      await pool.start();
      const options: BatchOptions = { rate: 200, attempts: 10, backoffMs: 100, backoffCapMs: 1000 };
      await submitBatch({ store, file: manifest('redis.ndjson', api.agentIds().map((a) => ({ ...a, patch: PATCH }))), manifestOptions: {}, batchId: 'chaos-redis', options });
      for (let i = 0; i < 200 && (await store.counts('chaos-redis')).applied < 60; i++) await new Promise((r) => setTimeout(r, 25));
      const pid = Number(execFileSync('cat', [path.join(dir, 'redis.pid')]).toString());
      process.kill(pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 1500));
      start();
      await waitUp();
      await waitForEnd(store, 'chaos-redis', 60_000);
      await pool.close(2000);
      client.close();
      await expectInvariants(api, store, 'chaos-redis', originals);
    } finally {
      privateRedis.disconnect();
      spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it(`(c) the API answers 503 for ${LONG ? 20 : 3} s, then recovers`, async () => {
    const api = await startMock({ agents: 100, latencyMs: 10, promptBytes: 800 });
    const originals = snapshot(api);
    const prefix = testPrefix('chaos-503');
    const store = new BatchStore(redis, prefix);
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: 8 });
    const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency: 8, pollMs: 100 });
    await pool.start();
    // The long run uses the defaults (6 attempts from 1 s, capped at 60 s): 1+2+4+8+16 s outlast 20 s.
    const options: BatchOptions = LONG ? { rate: 50, attempts: 6, backoffMs: 1000, backoffCapMs: 60_000 } : { rate: 100, attempts: 8, backoffMs: 200, backoffCapMs: 2000 };
    await submitBatch({ store, file: manifest('outage.ndjson', api.agentIds().map((a) => ({ ...a, patch: PATCH }))), manifestOptions: {}, batchId: 'chaos-503', options });
    for (let i = 0; i < 200 && (await store.counts('chaos-503')).applied < 20; i++) await new Promise((r) => setTimeout(r, 25));
    api.configure({ failRate: 1 });
    await new Promise((r) => setTimeout(r, LONG ? 20_000 : 3000));
    api.configure({ failRate: 0 });
    await waitForEnd(store, 'chaos-503', LONG ? 180_000 : 60_000);
    await pool.close(2000);
    client.close();
    expect((api.stats().byStatus['503'] ?? 0) + (api.stats().byStatus['500'] ?? 0) + (api.stats().byStatus['502'] ?? 0)).toBeGreaterThan(0);
    await expectInvariants(api, store, 'chaos-503', originals);
  }, LONG ? 240_000 : 90_000);
});

