/**
 * Chaos, bounded in time: workers SIGKILLed and restarted, Redis killed and restarted, the API down
 * then back. After each, the same invariants: every agent as the manifest says, before snapshots equal
 * the originals, no `$replace` applied twice, the counters equal the per-agent statuses.
 *
 * `npm test` runs short versions; `npm run chaos` (CHAOS=long) the long ones of the issue: 3,000 agents
 * with a worker killed every few seconds, and a 20-second API outage with the default backoff.
 */
import { execFileSync, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NovaClient } from '../src/api/client.js';
import type { Agent } from '../src/api/types.js';
import { submitBatch } from '../src/ops/create-batch.js';
import { WorkerPool } from '../src/worker/worker-pool.js';
import type { MockApi } from '../src/mock/server.js';
import { BatchStore } from '../src/store/batch-store.js';
import type { BatchOptions } from '../src/batch/records.js';
import { connectRedis } from '../src/store/connect.js';
import { ownsPort, startRedisServer } from '../src/store/redis-server.js';
import { agentKey } from '../src/store/keys.js';
import { collect, runCli, spawnCli } from './helpers/cli.js';
import { topFailures } from '../src/views/batch-view.js';
import { engineFixtures, expectCountersMatch } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const LONG = process.env.CHAOS === 'long';
/** Agents applied between two kills of test (a). */
const KILL_EVERY = LONG ? 100 : 20;
const { manifest, redis } = engineFixtures('chaos');

/** The patch every chaos batch applies: detectably not idempotent if applied twice. */
const PATCH = { prompt_template: { $replace: { find: 'Role', with: 'Role Role' } }, goodbye_config: { message: 'Bye (chaos)' } };

function snapshot(api: MockApi): Map<string, Agent> {
  return new Map(api.agentIds().map((a) => [agentKey(a.org_id, a.agent_id), api.agent(a.org_id, a.agent_id)!]));
}

async function expectInvariants(api: MockApi, store: BatchStore, batchId: string, originals: Map<string, Agent>) {
  // On a failure, the reasons are in the message (a stall on a starved machine reads differently from a bug).
  expect((await store.getBatch(batchId))!.status, JSON.stringify(await topFailures(store, batchId))).toBe('completed');
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

/** Resolves when the worker says it runs (or after 20 s, or when it ends: a kill then changes nothing). */
function untilStarted(worker: ChildProcessWithoutNullStreams): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    const timer = setTimeout(resolve, 20_000);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    worker.stdout.on('data', (d: Buffer) => {
      seen = (seen + d.toString()).slice(-4096);
      if (seen.includes('worker started')) done();
    });
    worker.once('exit', done);
  });
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
  it(`(a) three workers, one SIGKILLed and restarted every ${LONG ? 3 : 1.5} s at most and every ${KILL_EVERY} agents, drops after apply on (${LONG ? 3000 : 300} agents)`, async () => {
    const agents = LONG ? 3000 : 300;
    const api = await startMock({ agents, latencyMs: 10, dropAfterRate: 0.05, promptBytes: 800 });
    const originals = snapshot(api);
    const prefix = testPrefix('chaos-kill');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    expect((await runCli(['submit', manifest('kill.ndjson', api.agentIds().map((a) => ({ ...a, patch: PATCH }))), '--batch', 'chaos-kill', '--rate', LONG ? '400' : '150'], env)).code).toBe(0);
    // A 2 s lock: a SIGKILLed worker's jobs come back within ~2 s, while a live worker on a machine busy
    // with other test files still renews in time (with 1 s, one run here stalled a job out).
    // At info: the worker says when it runs (its output is read all along, so a full pipe never blocks it).
    const args = ['worker', '--concurrency', '6', '--lock-duration', '2000', '--log-level', 'info'];
    const started: Promise<void>[] = [];
    const spawnWorker = (slot: number) => {
      const worker = spawnCli(args, env);
      started[slot] = untilStarted(worker);
      return worker;
    };
    const workers = [spawnWorker(0), spawnWorker(1), spawnWorker(2)];
    const store = new BatchStore(redis, prefix);
    let kills = 0;
    // Only a kill that lands while agents are still pending tests anything: those are counted.
    let midBatchKills = 0;
    let appliedAtLastKill = 0;
    const deadline = Date.now() + (LONG ? 240_000 : 60_000);
    while (Date.now() < deadline && (await store.getBatch('chaos-kill'))!.status === 'running') {
      await new Promise((r) => setTimeout(r, LONG ? 3000 : 1500));
      const victim = kills % workers.length;
      // Kills in proportion to work, not to the clock: on a machine busy with other test files an agent
      // takes ~1 s, and a kill every 1.5 s regardless caught the same put-back jobs (first in the queue)
      // in worker after worker until BullMQ failed them as stalled 6 times (CI). A worker is killed once
      // it runs, not while it starts, and only after KILL_EVERY more agents were applied.
      await started[victim];
      const { applied, pending } = await store.counts('chaos-kill');
      if (applied < appliedAtLastKill + KILL_EVERY) continue;
      appliedAtLastKill = applied;
      workers[victim]!.kill('SIGKILL');
      if (pending > 0) midBatchKills++;
      workers[victim] = spawnWorker(victim);
      kills++;
    }
    await waitForEnd(store, 'chaos-kill', 30_000);
    const exits = workers.map((w) => collect(w));
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(exits);
    expect(midBatchKills, `${midBatchKills} of ${kills} kills mid-batch`).toBeGreaterThanOrEqual(2);
    await expectInvariants(api, store, 'chaos-kill', originals);
  }, LONG ? 300_000 : 90_000);

  it('(b) Redis killed with SIGKILL mid-batch and restarted from its append-only file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-chaos-redis-'));
    // Append-only with fsync always: what was acknowledged survives the SIGKILL. Restarted on the same port.
    const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
    const { port, pidFile, logFile } = await startRedisServer({ binary: 'redis-server', dir, args });
    const restart = () => execFileSync('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'yes', '--pidfile', pidFile, '--logfile', logFile, ...args]);
    const waitUp = async () => {
      for (let i = 0; i < 100 && !(await ownsPort(port, pidFile)); i++) await new Promise((r) => setTimeout(r, 100));
      expect(await ownsPort(port, pidFile)).toBe(true);
    };
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
      const pid = Number(execFileSync('cat', [pidFile]).toString());
      process.kill(pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 1500));
      restart();
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

