/**
 * The Redis nova-fleet is given is checked before a command writes (issue 25), on private redis-server
 * processes started and stopped by this file: an evicting maxmemory-policy is refused (exit 3, nothing
 * written, the fix named); one that keeps nothing on disk is said once; an append-only one passes
 * silently; read-only commands are not stopped.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { judgeDurability, infoField } from '../src/store/redis-health.js';
import { startRedisServer } from '../src/store/redis-server.js';
import { runCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';

const { manifest } = engineFixtures('redis-health');
const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-redis-health-'));
const ports: number[] = [];
afterAll(() => {
  for (const port of ports) spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);
  rmSync(dir, { recursive: true, force: true });
});

/** A private redis-server with these settings; its URL. */
async function privateRedis(name: string, args: string[]): Promise<string> {
  const started = await startRedisServer({ binary: 'redis-server', dir, args, pidFile: () => `${name}.pid`, logFile: () => `${name}.log` });
  ports.push(started.port);
  return `redis://127.0.0.1:${started.port}`;
}

/** Starts redis-server again on `port`, in `home`, with `args` (after a test killed it). */
function restartRedis(port: number, home: string, args: string[]): void {
  const again = spawnSync('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', home, '--daemonize', 'yes', '--pidfile', path.join(home, 'again.pid'), '--logfile', path.join(home, 'again.log'), ...args]);
  expect(again.status).toBe(0);
}

async function keyCount(url: string): Promise<number> {
  const redis = new Redis(url);
  try {
    return await redis.dbsize();
  } finally {
    redis.disconnect();
  }
}

describe('the Redis it is given', () => {
  it('judges what INFO and CONFIG say (pure)', () => {
    expect(infoField('# Memory\r\nused_memory:1\r\nmaxmemory_policy:allkeys-lru\r\n', 'maxmemory_policy')).toBe('allkeys-lru');
    expect(infoField('aof_enabled:0\n', 'maxmemory_policy')).toBeUndefined();
    expect(judgeDurability({ policy: 'noeviction', aof: true, save: '' })).toEqual({});
    expect(judgeDurability({ policy: 'noeviction', aof: false, save: '3600 1' })).toEqual({});
    expect(judgeDurability({ policy: 'noeviction', aof: false, save: '' }).note).toContain('keeps nothing on disk');
    expect(judgeDurability({ policy: 'noeviction', aof: false, save: undefined })).toEqual({});
    expect(judgeDurability({ policy: undefined, aof: undefined, save: undefined })).toEqual({});
    for (const policy of ['allkeys-lru', 'volatile-lru', 'allkeys-random', 'volatile-ttl', 'allkeys-lfu', 'volatile-lfu', 'volatile-random']) {
      expect(judgeDurability({ policy, aof: true, save: '' }).refuse, policy).toContain(`maxmemory-policy is ${policy}`);
    }
  });

  it('an evicting Redis: submit exits 3 naming the fix and writes nothing; status still reads it', async () => {
    const url = await privateRedis('lru', ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru', '--save', '', '--appendonly', 'yes']);
    const api = await startMock({ agents: 3 });
    const env = { REDIS_URL: url, NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, NOVA_FLEET_PREFIX: 'health' };
    const file = manifest('lru.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Evictable' } })));
    for (const command of [['submit', file], ['run', file]]) {
      const refused = await runCli(command, env);
      expect(refused.code, refused.stderr).toBe(3);
      expect(refused.stderr).toContain('is not safe for nova-fleet: its maxmemory-policy is allkeys-lru');
      expect(refused.stderr).toContain('maxmemory-policy noeviction');
    }
    expect(await keyCount(url)).toBe(0);
    expect(api.stats().total).toBe(0);
    expect((await runCli(['batches'], env)).code).toBe(0);
  }, 30_000);

  it('a Redis that keeps nothing on disk is said once; an append-only one passes in silence', async () => {
    const api = await startMock({ agents: 2 });
    const file = manifest('durable.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Durable?' } })));
    const volatile = await privateRedis('volatile', ['--save', '', '--appendonly', 'no']);
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, NOVA_FLEET_PREFIX: 'health' };
    const said = await runCli(['submit', file, '--json'], { ...env, REDIS_URL: volatile });
    expect(said.code, said.stderr).toBe(0);
    expect(said.stderr.split('keeps nothing on disk')).toHaveLength(2);
    expect(said.stderr).toContain('set `appendonly yes`');
    const durable = await privateRedis('durable', ['--save', '', '--appendonly', 'yes']);
    const quiet = await runCli(['submit', file, '--json'], { ...env, REDIS_URL: durable });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).not.toContain('keeps nothing on disk');
    // Read-only commands say nothing about it.
    expect((await runCli(['batches'], { ...env, REDIS_URL: volatile })).stderr).not.toContain('keeps nothing');
  }, 30_000);
});

describe('preflight against a flaky API', () => {
  it('a transient failure (two 503s) is asked again; only a lasting one is exit 3', async () => {
    let failures = 0;
    const api = await startMock({
      agents: 4,
      orgs: 2,
      intercept: () => (failures-- > 0 ? { status: 503, body: { detail: 'try again' } } : undefined),
    });
    const { REDIS_URL, testPrefix } = await import('./helpers/redis.js');
    const env = { REDIS_URL, NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, NOVA_FLEET_PREFIX: testPrefix('preflight-flaky') };
    const file = manifest('flaky.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Flaky' } })));
    failures = 2; // the first two reads answer 503 (issue 25: 8 of 30 submits exited 3 against a faulty API)
    const submitted = await runCli(['submit', file, '--json'], env);
    expect(submitted.code, submitted.stderr).toBe(0);
    expect(api.stats().byStatus['503']).toBe(2);
    failures = 1000; // lasting: exit 3 after its tries, nothing created
    const refused = await runCli(['submit', file, '--new'], env);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('preflight: the Nova API could not be read for org');
  }, 30_000);
});

/** `run` of 12 agents at 2 requests/s against `url`, under way once `patches` PATCHes have landed. */
async function runUnderWay(url: string, name: string, patches: number, patch: Record<string, unknown> = { name: `Through ${name}` }) {
  const api = await startMock({ agents: 12 });
  const env = { REDIS_URL: url, NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, NOVA_FLEET_PREFIX: name };
  const file = manifest(`${name}.ndjson`, api.agentIds().map((a) => ({ ...a, patch })));
  const { collect, spawnCli } = await import('./helpers/cli.js');
  const args = ['run', file, '--rate', '2', '--concurrency', '2'];
  const child = spawnCli(args, env);
  const done = collect(child);
  const deadline = Date.now() + 20_000;
  while ((api.stats().byMethod.PATCH ?? 0) < patches && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  return { api, child, done, again: () => runCli(args.map((arg) => (arg === '2' ? '20' : arg)), env) };
}

describe('a batch whose records vanish while it runs', () => {
  it('run exits 3 saying so (not a crash, not a wait) when Redis loses the batch mid-run', async () => {
    const url = await privateRedis('flushed', ['--save', '', '--appendonly', 'no']);
    const { done } = await runUnderWay(url, 'lost', 2);
    const redis = new Redis(url);
    await redis.flushall(); // what a restart without persistence does to the batch
    redis.disconnect();
    const flushedAt = Date.now();
    const result = await done;
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain('is gone from Redis while it ran');
    expect(result.stderr).not.toMatch(/unexpected error|\n\s+at /);
    expect(Date.now() - flushedAt).toBeLessThan(15_000);
  }, 40_000);

  it('restarted empty mid-run: run halts, and the same run again rebuilds the batch from the journal — no agent changed twice', async () => {
    const home = mkdtempSync(path.join(dir, 'emptied-'));
    const args = ['--save', '', '--appendonly', 'no'];
    const started = await startRedisServer({ binary: 'redis-server', dir: home, args });
    ports.push(started.port);
    const url = `redis://127.0.0.1:${started.port}`;
    // Not idempotent: applied twice, a prompt would read "(v2) (v2)" (issue 25: 1,038 of 3,000 agents).
    const { api, done, again } = await runUnderWay(url, 'emptied', 4, { prompt_template: { $replace: { find: 'Role', with: 'Role (v2)' } } });
    process.kill(started.pid, 'SIGKILL'); // and back without its data: no AOF, no RDB
    await new Promise((resolve) => setTimeout(resolve, 1000));
    restartRedis(started.port, home, args);
    const halted = await done;
    expect(halted.code, halted.stderr).toBe(3);
    expect(halted.stderr).toContain('is gone from Redis while it ran');
    const changedBefore = Object.keys(api.stats({ perAgent: true }).appliedPerAgent!).length;
    expect(changedBefore).toBeGreaterThanOrEqual(4);
    const rerun = await again();
    expect(rerun.code, rerun.stderr).toBe(0);
    // An agent PATCHed while Redis was away has its original journaled but not its change: the rebuild
    // counts it pending, and the re-run finds it changed and records it applied without a PATCH.
    expect(rerun.stderr).toMatch(/journal: batch \S+ was gone from Redis — rebuilt from \S+: \d+ originals, \d+ agents? already changed/);
    expect(Object.values(api.stats({ perAgent: true }).appliedPerAgent!)).toEqual(api.agentIds().map(() => 1));
    for (const a of api.agentIds()) {
      const prompt = String(api.agent(a.org_id, a.agent_id)!.prompt_template);
      expect(prompt, a.agent_id).toContain('Role (v2)');
      expect(prompt, a.agent_id).not.toContain('(v2) (v2)');
    }
  }, 60_000);
});

describe('the journal of originals', () => {
  it('rollback --journal FILE restores every agent of a batch Redis lost', async () => {
    const url = await privateRedis('journal-rollback', ['--save', '', '--appendonly', 'no']);
    const api = await startMock({ agents: 6 });
    const names = new Map(api.agentIds().map((a) => [a.agent_id, api.agent(a.org_id, a.agent_id)!.name]));
    const env = { REDIS_URL: url, NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, NOVA_FLEET_PREFIX: 'journal' };
    const file = manifest('journal.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Journaled' } })));
    const journal = path.join(dir, 'worker.journal.ndjson');
    const ran = await runCli(['run', file, '--journal', journal], env);
    expect(ran.code, ran.stderr).toBe(0);
    const { id } = await onlyBatch(env);
    const redis = new Redis(url);
    await redis.flushall();
    redis.disconnect();
    const lost = await runCli(['rollback', id], env);
    expect(lost.code).toBe(2); // without the journal there is nothing to restore from
    const restored = await runCli(['rollback', id, '--journal', journal, '--run'], env);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stderr).toContain(`journal: batch ${id} was gone from Redis — rebuilt from ${journal}: 6 originals, 6 agents already changed`);
    for (const a of api.agentIds()) expect(api.agent(a.org_id, a.agent_id)!.name).toBe(names.get(a.agent_id));
    expect(api.stats().byMethod.PATCH).toBe(12);
  }, 30_000);
});

describe('a Redis that restarts mid-run', () => {
  it('gone for good under a worker: SIGTERM ends it within its grace and seconds (issue 25: ignored for 60 s)', async () => {
    const started = await startRedisServer({ binary: 'redis-server', dir: mkdtempSync(path.join(dir, 'gone-worker-')), args: ['--save', '', '--appendonly', 'no'] });
    ports.push(started.port);
    const api = await startMock({ agents: 12 });
    const env = { REDIS_URL: `redis://127.0.0.1:${started.port}`, NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, NOVA_FLEET_PREFIX: 'gone-worker' };
    const file = manifest('gone-worker.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Worked' } })));
    expect((await runCli(['submit', file, '--rate', '2'], env)).code).toBe(0);
    const { collect, spawnCli } = await import('./helpers/cli.js');
    const worker = spawnCli(['worker', '--grace', '1'], env);
    const done = collect(worker);
    const deadline = Date.now() + 20_000;
    while ((api.stats().byMethod.PATCH ?? 0) < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    process.kill(started.pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const signalledAt = Date.now();
    worker.kill('SIGTERM');
    const result = await done;
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    expect(result.stderr).not.toMatch(/unexpected error/);
  }, 40_000);

  it('gone for good mid-run: the first Ctrl-C ends run within seconds, saying what stays', async () => {
    const started = await startRedisServer({ binary: 'redis-server', dir: mkdtempSync(path.join(dir, 'gone-')), args: ['--save', '', '--appendonly', 'no'] });
    ports.push(started.port);
    const { child, done } = await runUnderWay(`redis://127.0.0.1:${started.port}`, 'gone', 2);
    process.kill(started.pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 1500)); // run is waiting for Redis now
    const interruptedAt = Date.now();
    child.kill('SIGINT'); // issue 25: the first Ctrl-C was ignored, closing the pool waited for ever
    const result = await done;
    expect(Date.now() - interruptedAt).toBeLessThan(10_000);
    expect(result.code).not.toBe(0);
    expect(result.stderr).not.toMatch(/unexpected error|\n\s+at /);
  }, 40_000);

  it('SIGKILLed and restarted from its AOF: run waits for it and finishes, every agent changed once', async () => {
    const home = mkdtempSync(path.join(dir, 'aof-'));
    const args = ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'];
    const started = await startRedisServer({ binary: 'redis-server', dir: home, args });
    ports.push(started.port);
    const url = `redis://127.0.0.1:${started.port}`;
    const { api, done } = await runUnderWay(url, 'restart', 3);
    process.kill(started.pid, 'SIGKILL'); // issue 25: run never went on after this (3 of 3 tries)
    await new Promise((resolve) => setTimeout(resolve, 1500));
    restartRedis(started.port, home, args);
    const result = await done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('Redis is not answering');
    const perAgent = api.stats({ perAgent: true }).appliedPerAgent!;
    expect(Object.keys(perAgent)).toHaveLength(12);
    expect(Object.values(perAgent)).toEqual(api.agentIds().map(() => 1));
    for (const a of api.agentIds()) expect(api.agent(a.org_id, a.agent_id)!.name).toBe('Through restart');
    // ~13 s as a rule; once in ~15 loaded runs a job whose BullMQ step was cut by the kill waits for its
    // lock to lapse and the stalled check (30 s each) before it is worked again: the timeout allows it.
  }, 120_000);
});

/** The batch `run` made under `env`'s prefix (the only one there). */
async function onlyBatch(env: NodeJS.ProcessEnv): Promise<{ id: string; status: string; counts: Record<string, number> }> {
  const listed = await runCli(['batches', '--json'], env);
  const [batch] = JSON.parse(listed.stdout) as Array<{ id: string; status: string; counts: Record<string, number> }>;
  return batch!;
}

async function setMaxmemory(url: string, value: string): Promise<number> {
  const redis = new Redis(url);
  try {
    const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
    await redis.config('SET', 'maxmemory', value);
    return used;
  } finally {
    redis.disconnect();
  }
}

describe('a Redis that runs out of memory (noeviction)', () => {
  /**
   * Once memory is back: resumed, a worker finishes it, and every agent was changed exactly once. (A job
   * whose write Redis refused is given back by BullMQ's stalled check: the worker's short lock makes
   * that seconds, not the default minute.)
   */
  async function finishesOnce(url: string, env: NodeJS.ProcessEnv, api: Awaited<ReturnType<typeof startMock>>, name: string) {
    await setMaxmemory(url, '0');
    const { id } = await onlyBatch(env);
    const resumed = await runCli(['resume', id], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    const { collect, spawnCli } = await import('./helpers/cli.js');
    const worker = spawnCli(['worker', '--queue', id, '--lock-duration', '1000'], env);
    const stopped = collect(worker);
    // Refused mid-job, a job keeps its lock until that lapses (30 s, the run's default lock), then is given back.
    const deadline = Date.now() + 75_000;
    while ((await onlyBatch(env)).status !== 'completed' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    worker.kill('SIGTERM');
    await stopped;
    expect((await onlyBatch(env)).status).toBe('completed');
    expect(Object.values(api.stats({ perAgent: true }).appliedPerAgent!)).toEqual(api.agentIds().map(() => 1));
    for (const a of api.agentIds()) expect(api.agent(a.org_id, a.agent_id)!.name).toBe(name);
  }

  it('nearly full: submit warns, run halts redis_full (exit 3) before a write is refused, no attempt spent; resumed, every agent once', async () => {
    const url = await privateRedis('nearly-full', ['--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction']);
    const api = await startMock({ agents: 150 });
    const env = { REDIS_URL: url, NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, NOVA_FLEET_PREFIX: 'full' };
    const file = manifest('nearly-full.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Roomy' } })));
    await setMaxmemory(url, '64mb');
    const submitted = await runCli(['submit', file], env);
    expect(submitted.code, submitted.stderr).toBe(0);
    expect(submitted.stderr).not.toContain('may not fit');
    const started = Date.now();
    const { collect, spawnCli } = await import('./helpers/cli.js');
    const running = collect(spawnCli(['run', file, '--rate', '20'], env)); // carries on with the submitted batch
    const until = Date.now() + 20_000;
    while ((api.stats().byMethod.PATCH ?? 0) < 10 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    // Room left for about 25 more agents' snapshots past the headroom kept free.
    const used = await setMaxmemory(url, '64mb');
    await setMaxmemory(url, String(used + 256 * 1024 + 25 * 4500));
    const ran = await running;
    const said = ran.stdout + ran.stderr;
    expect(ran.code, said).toBe(3);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(said).toContain('redis_full: Redis is out of memory: ');
    expect(said).toMatch(/\d+ agents × ~[\d.]+ KiB = ~[\d.]+ (KiB|MiB) needed; Redis has [\d.]+ (B|KiB) left of its maxmemory/);
    expect(said).not.toMatch(/OOM|unexpected error/);
    const halted = await onlyBatch(env);
    expect(halted.status).toBe('halted');
    expect(halted.counts.failed).toBe(0);
    expect(halted.counts.applied).toBeGreaterThan(0);
    expect(halted.counts.pending).toBeGreaterThan(0);
    // What the API changed is what was recorded: nothing changed and left pending.
    expect(api.stats().byMethod.PATCH).toBe(halted.counts.applied);
    await finishesOnce(url, env, api, 'Roomy');
    // A batch that may not fit is warned of before anything is enqueued.
    await setMaxmemory(url, String((await setMaxmemory(url, '0')) + 400 * 1024));
    const tight = await runCli(['submit', file, '--new'], env);
    expect(tight.stderr).toMatch(/may not fit in Redis \(150 agents × ~4\.5 KiB = ~675\.0 KiB needed; Redis has [\d.]+ KiB left/);
    // A write Redis refuses for memory, wherever it comes, is exit 3 with the fix — never "a bug".
    await setMaxmemory(url, '1');
    const refused = await runCli(['submit', file, '--new'], { ...env, NOVA_FLEET_PREFIX: 'crammed' });
    expect(refused.code, refused.stderr).toBe(3);
    expect(refused.stderr).toContain('redis_full: Redis refused a write, out of memory');
    expect(refused.stderr).toContain('hint: raise maxmemory');
    expect(refused.stderr).not.toContain('unexpected error');
  }, 90_000);

  it('full at once (maxmemory cut under use mid-run): every write refused, yet the halt is recorded, nothing fails, nothing is lost', async () => {
    const url = await privateRedis('full', ['--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction']);
    const api = await startMock({ agents: 40 });
    const env = { REDIS_URL: url, NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, NOVA_FLEET_PREFIX: 'full' };
    const file = manifest('full.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Cramped' } })));
    const { collect, spawnCli } = await import('./helpers/cli.js');
    const done = collect(spawnCli(['run', file, '--rate', '10', '--concurrency', '4'], env));
    const deadline = Date.now() + 20_000;
    while ((api.stats().byMethod.PATCH ?? 0) < 5 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await setMaxmemory(url, '1'); // issue 25: the batch stayed running for 7 min, OOM errors spent attempts
    const cutAt = Date.now();
    const ran = await done;
    const said = ran.stdout + ran.stderr;
    expect(ran.code, said).toBe(3);
    expect(Date.now() - cutAt).toBeLessThan(60_000);
    expect(said).toContain('redis_full: Redis is out of memory');
    expect(said).not.toContain('unexpected error');
    expect(said.split('OOM command not allowed').length).toBeLessThanOrEqual(3);
    const halted = await onlyBatch(env);
    expect(halted.status).toBe('halted');
    expect(halted.counts.failed).toBe(0);
    // Agents the API changed while Redis refused their outcome stay pending (not failed, not lost):
    // the resumed batch finds them changed and records them applied, against their first snapshot.
    await finishesOnce(url, env, api, 'Cramped');
    expect((await onlyBatch(env)).counts.applied).toBe(40);
  }, 120_000);
});
