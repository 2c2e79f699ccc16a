/**
 * Bounds and checks that did not hold when tried with hostile inputs (issue 24, defects 11–12): what
 * prune may delete, what a read-only field or a vanished origin does to a rollback, what a reply may
 * weigh.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { BatchStore } from '../src/store/batch-store.js';
import { collect, runCli, spawnCli } from './helpers/cli.js';
import { engineFixtures, runToEnd, workToEnd } from './helpers/engine.js';
import { createRollback } from '../src/ops/create-rollback.js';
import { startMock } from './helpers/mock.js';
import { keysUnder, REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('bounds');
/** The fixtures' connection is a single Redis here (SCAN through it). */
const plain = redis as unknown as Redis;

describe('prune deletes only its own prefix’s batches', () => {
  it('prune under P leaves every key of a prefix named P:keyrate alone, and still drops P’s key schedules', async () => {
    const api = await startMock({ agents: 2 });
    const mine = testPrefix('prune-own');
    const theirs = `${mine}:keyrate`;
    const rows = api.agentIds().map((a) => ({ ...a, patch: { name: 'Pruned?' } }));
    await runToEnd(api, mine, manifest('mine.ndjson', rows), 'mine');
    await runToEnd(api, theirs, manifest('theirs.ndjson', rows), 'theirs');
    // (P's own key schedule, P:keyrate:{<32 hex>}, is listed under P:keyrate too: it is not theirs.)
    const ownSchedule = /^[^{]*:keyrate:\{[0-9a-f]{32}\}$/;
    const before = (await keysUnder(plain, theirs)).filter((key) => !(key.startsWith(`${mine}:keyrate:{`) && ownSchedule.test(key))).sort();
    expect(before.some((key) => key.includes('{theirs}:meta'))).toBe(true);
    const env = { REDIS_URL, NOVA_FLEET_PREFIX: mine };
    const pruned = await runCli(['prune', '--older-than', '0', '--json', '--yes'], env);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect((JSON.parse(pruned.stdout) as { pruned: string[] }).pruned).toEqual(['mine']);
    // Defect 12: the pattern P:keyrate:* deleted all of these.
    const after = (await keysUnder(plain, theirs)).sort();
    expect(before.filter((key) => !after.includes(key))).toEqual([]);
    expect(await new BatchStore(redis, theirs).getBatch('theirs')).toBeDefined();
    // P's own key schedule is gone (no batch of P is left to use it).
    expect(before.length).toBeGreaterThan(10);
    expect((await keysUnder(plain, mine)).filter((key) => key.startsWith(`${mine}:keyrate:{`) && ownSchedule.test(key))).toEqual([]);
  }, 30_000);

  it('a member of the batches index that is no batch id is reported and left; the rest of the prune goes on', async () => {
    const api = await startMock({ agents: 2 });
    const prefix = testPrefix('prune-invalid');
    await runToEnd(api, prefix, manifest('old.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Old' } }))), 'old');
    await redis.zadd(`${prefix}:batches`, 0, 'not a batch id!');
    const pruned = await runCli(['prune', '--older-than', '0', '--json', '--yes'], { REDIS_URL, NOVA_FLEET_PREFIX: prefix });
    // Defect 12: exit 1, "unexpected error (a bug)", nothing pruned.
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(JSON.parse(pruned.stdout)).toMatchObject({ pruned: ['old'], invalid: ['not a batch id!'] });
    expect(pruned.stderr).toContain('no batch id');
    expect(await new BatchStore(redis, prefix).getBatch('old')).toBeUndefined();
  }, 30_000);
});

describe('a rollback checks, it does not trust', () => {
  it('a rollback whose origin vanished from Redis fails its agents (exit 1), never reports them unchanged', async () => {
    const api = await startMock({ agents: 3 });
    const prefix = testPrefix('rb-vanished');
    await runToEnd(api, prefix, manifest('vanish.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Vanishing' } }))), 'vanish');
    const store = new BatchStore(redis, prefix);
    const { meta } = await createRollback({ store, originId: 'vanish' });
    await store.deleteBatch('vanish'); // lost: a flush, an eviction, a prune by hand
    api.resetStats();
    const done = await workToEnd(api, prefix, meta.id);
    expect(done.counts).toMatchObject({ failed: 3, unchanged: 0, restored: 0 });
    expect(done.meta.status).toBe('completed_with_failures');
    expect((await store.agentRecord(meta.id, `${api.agentIds()[0]!.org_id}/${api.agentIds()[0]!.agent_id}`))!.error).toContain('no before snapshot to restore it from');
    expect(api.stats().total).toBe(0);
  }, 30_000);
});

describe('secrets in URLs', () => {
  it('plan and the worker’s log never print the password inside NOVA_API_URL', async () => {
    const api = await startMock({ agents: 2 });
    const prefix = testPrefix('url-secret');
    const url = api.url.replace('http://', 'http://gateway-user:s3cret-in-url@');
    const env = { NOVA_API_URL: url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const file = manifest('secret-url.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Planned' } })));
    const plan = await runCli(['plan', file], env);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stderr).toContain('gateway-user:****@');
    expect(plan.stdout + plan.stderr).not.toContain('s3cret-in-url');
    const worker = spawnCli(['worker'], env);
    const done = collect(worker);
    let seen = '';
    worker.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    worker.stderr.on('data', (d: Buffer) => (seen += d.toString()));
    const deadline = Date.now() + 15_000;
    while (!seen.includes('worker started') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    worker.kill('SIGTERM');
    const ended = await done;
    expect(seen).toContain('worker started');
    expect(seen + ended.stdout + ended.stderr).not.toContain('s3cret-in-url');
    expect(seen).toContain('gateway-user:****@');
  }, 30_000);
});

describe('states shown as they are', () => {
  it('a batch waiting (approval, window, pause) shows no ETA; a running one does', async () => {
    // Issue 24 (7): "ETA 46m" while the batch waited for approval.
    const store = new BatchStore(redis, testPrefix('eta'));
    await store.createBatch({ id: 'eta-1', kind: 'rollout', manifest: 'm', digest: 'd', createdAt: Date.now() - 60_000, status: 'running', total: 4, enqueued: true, options: { rate: 10, attempts: 1, backoffMs: 10, backoffCapMs: 10 } });
    await store.register('eta-1', ['o/a1', 'o/a2', 'o/a3', 'o/a4']);
    await store.finish('eta-1', 'o/a1', 'applied', 'pending', {});
    const { viewBatch } = await import('../src/views/batch-view.js');
    expect((await viewBatch(store, (await store.getBatch('eta-1'))!)).etaSeconds).toBeGreaterThan(0);
    for (const status of ['waiting_approval', 'paused', 'waiting_window'] as const) {
      await store.transition('eta-1', status, ['running', 'waiting_approval', 'paused', 'waiting_window']);
      const view = await viewBatch(store, (await store.getBatch('eta-1'))!);
      expect(view.etaSeconds, status).toBeUndefined();
    }
  });
});
