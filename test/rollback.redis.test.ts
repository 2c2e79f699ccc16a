/** Rollback, reports and retention against a real Redis and the mock over loopback. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Agent } from '../src/api/types.js';
import { createRollback } from '../src/ops/create-rollback.js';
import { neutraliseCell } from '../src/views/report.js';
import { exportBatch, importBatch, pruneBatches } from '../src/ops/retention.js';
import type { MockApi } from '../src/mock/server.js';
import { WRITABLE_FIELDS } from '../src/patch/fields.js';
import { BatchStore } from '../src/store/batch-store.js';
import { agentKey } from '../src/store/keys.js';
import { runCli } from './helpers/cli.js';
import { engineFixtures, FAST, runToEnd, workToEnd } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, keysUnder, testPrefix } from './helpers/redis.js';

const { manifest, redis, dir } = engineFixtures('rollback');

/** An agent's writable fields: what a batch can change and a rollback must restore (updated_at is the server's). */
const writable = (agent: Agent) => Object.fromEntries(Object.keys(WRITABLE_FIELDS).map((f) => [f, agent[f]]));

function snapshotFleet(api: MockApi): Map<string, Agent> {
  return new Map(api.agentIds().map((a) => [agentKey(a.org_id, a.agent_id), api.agent(a.org_id, a.agent_id)!]));
}

function expectFleetEquals(api: MockApi, expected: Map<string, Agent>, only?: Set<string>) {
  for (const a of api.agentIds()) {
    const key = agentKey(a.org_id, a.agent_id);
    if (only && !only.has(key)) continue;
    expect(writable(api.agent(a.org_id, a.agent_id)!), key).toEqual(writable(expected.get(key)!));
  }
}

/** Random but valid patches: the same shapes as the property tests of desiredState. */
const patchArb = fc.record(
  {
    name: fc.string({ minLength: 1, maxLength: 12 }),
    prompt_template: fc.oneof(fc.string({ maxLength: 30 }), fc.constant({ $replace: { find: 'Role', with: 'Role (v2)' } })),
    extra_config: fc.record({ min_words: fc.integer({ min: 0, max: 9 }), allow_interruptions: fc.boolean() }, { requiredKeys: [] }),
    vad_config: fc.record({ sample_rate: fc.constantFrom(8000, 16000, 44100), prefix_padding_duration: fc.constantFrom(0.1, 0.3) }, { requiredKeys: [] }),
    llm_config: fc.record({ temperature: fc.constantFrom(0, 0.3, 0.9) }),
    default_functions: fc.array(fc.constantFrom('end_call', 'transfer_call', 'lookup'), { maxLength: 3 }),
    greeting_config: fc.record({ voice_mail_message: fc.constant(null) }),
  },
  { requiredKeys: [] },
).filter((p) => Object.keys(p).length > 0);

describe('rollback', () => {
  it('restores every agent exactly to its original, for random patches (property, 4 fleets)', async () => {
    const patchSets = fc.sample(fc.array(patchArb, { minLength: 8, maxLength: 8 }), { numRuns: 4, seed: 7 });
    for (const [run, patches] of patchSets.entries()) {
      const api = await startMock({ agents: 8, seed: 100 + run });
      const prefix = testPrefix(`rb-prop-${run}`);
      const originals = snapshotFleet(api);
      const file = manifest(`prop-${run}.ndjson`, api.agentIds().map((a, i) => ({ ...a, patch: patches[i] })));
      const rollout = await runToEnd(api, prefix, file, 'prop');
      expect(rollout.meta.status).toBe('completed');
      expect(rollout.counts.applied).toBeGreaterThan(0);
      const store = new BatchStore(redis, prefix);
      const { meta } = await createRollback({ store, originId: 'prop' });
      const rollback = await workToEnd(api, prefix, meta.id);
      expect(rollback.meta.status).toBe('completed');
      expect(rollback.counts.restored).toBe(rollout.counts.applied);
      expect(rollback.counts.conflict + rollback.counts.failed).toBe(0);
      expectFleetEquals(api, originals);
    }
  }, 60_000);

  it('a rollback given again while the first is unfinished carries on with it: one rollback batch, each agent restored by one PATCH', async () => {
    // Defect 6: Ctrl-C during `rollback --run` and the same command again made a second rollback batch;
    // the first later reported agents `restored` with no PATCH sent.
    const api = await startMock({ agents: 6 });
    const prefix = testPrefix('rb-again');
    const originals = snapshotFleet(api);
    const file = manifest('again.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Again · 再' } })));
    await runToEnd(api, prefix, file, 'again');
    const store = new BatchStore(redis, prefix);
    const first = await createRollback({ store, originId: 'again' }); // no worker: it stays running
    expect(first.attached).toBe(false);
    const second = await createRollback({ store, originId: 'again' });
    expect(second.attached).toBe(true);
    expect(second.meta.id).toBe(first.meta.id);
    expect(second.enqueued).toBe(0);
    // Another shape of rollback while one is open is refused, naming it.
    await expect(createRollback({ store, originId: 'again', force: true })).rejects.toThrow(`already being rolled back by batch ${first.meta.id}`);
    await expect(createRollback({ store, originId: 'again', agents: new Set([agentKey(api.agentIds()[0]!.org_id, api.agentIds()[0]!.agent_id)]) })).rejects.toThrow('already being rolled back');
    api.resetStats();
    const done = await workToEnd(api, prefix, first.meta.id);
    expect(done.counts.restored).toBe(6);
    expect(api.stats().byMethod.PATCH).toBe(6);
    expectFleetEquals(api, originals);
    // Once it finished, a rollback is a new batch again.
    const third = await createRollback({ store, originId: 'again' });
    expect(third.attached).toBe(false);
    expect(third.meta.id).not.toBe(first.meta.id);
  });

  it('checks, does not trust: agents recorded failed whose PATCH landed are restored; refused ones are unchanged, checked; a later hand edit is a conflict', async () => {
    // Issue 25: agents the API really changed were recorded failed, and rollback left them changed, exit 0.
    const api = await startMock({ agents: 8 });
    const ids = api.agentIds();
    const [landed, landedToo, edited, refused] = ids.map((a) => a.agent_id);
    api.configure({ patchAppliedStatus: { [landed!]: 504, [landedToo!]: 422, [edited!]: 504 }, patchStatus: { [refused!]: 422 } });
    const prefix = testPrefix('rb-check');
    const originals = snapshotFleet(api);
    const file = manifest('check.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Checked rollout', vad_config: { sample_rate: 44100 } } })));
    const rollout = await runToEnd(api, prefix, file, 'check', { ...FAST, attempts: 1 });
    expect(rollout.counts).toMatchObject({ applied: 4, failed: 4 });
    api.configure({ patchAppliedStatus: {}, patchStatus: {} });
    // Someone edits, after the rollout, a field the failed-but-landed PATCH had set.
    await fetch(`${api.url}/org/${ids[2]!.org_id}/agents/${edited}`, { method: 'PATCH', headers: { 'x-api-key': api.apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Edited by hand' }) });
    const store = new BatchStore(redis, prefix);
    const { meta } = await createRollback({ store, originId: 'check' });
    const result = await workToEnd(api, prefix, meta.id);
    expect(result.counts).toMatchObject({ restored: 6, unchanged: 1, conflict: 1, failed: 0 });
    const untouched = new Set([...originals.keys()].filter((k) => k !== agentKey(ids[2]!.org_id, edited!)));
    expectFleetEquals(api, originals, untouched);
    expect(api.agent(ids[2]!.org_id, edited!)!.name).toBe('Edited by hand');
    expect((await store.agentRecord(meta.id, agentKey(ids[3]!.org_id, refused!)))!.error).toContain('checked: as before batch check (recorded failed there)');
    expect((await store.agentRecord(meta.id, agentKey(ids[2]!.org_id, edited!)))!.error).toContain('recorded failed by batch check, yet name differs from its before snapshot and not as it asked');
  }, 30_000);

  it('leaves agents changed by someone else since the batch alone (conflict), and --force restores them', async () => {
    const api = await startMock({ agents: 6 });
    const prefix = testPrefix('rb-conflict');
    const originals = snapshotFleet(api);
    const ids = api.agentIds();
    const file = manifest('conflict.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Rolled out', vad_config: { sample_rate: 44100 } } })));
    await runToEnd(api, prefix, file, 'conflict');
    // A third party edits two agents after the batch.
    const edit = async (i: number, body: Record<string, unknown>) =>
      fetch(`${api.url}/org/${ids[i]!.org_id}/agents/${ids[i]!.agent_id}`, { method: 'PATCH', headers: { 'x-api-key': api.apiKey, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await edit(0, { name: 'Edited by hand' });
    await edit(1, { vad_config: { sample_rate: 8000 } });
    const third = new Set([agentKey(ids[0]!.org_id, ids[0]!.agent_id), agentKey(ids[1]!.org_id, ids[1]!.agent_id)]);
    const store = new BatchStore(redis, prefix);
    const first = await createRollback({ store, originId: 'conflict' });
    const result = await workToEnd(api, prefix, first.meta.id);
    expect(result.counts).toMatchObject({ restored: 4, conflict: 2 });
    expect(api.agent(ids[0]!.org_id, ids[0]!.agent_id)!.name).toBe('Edited by hand');
    expect((api.agent(ids[1]!.org_id, ids[1]!.agent_id)!.vad_config as { sample_rate: number }).sample_rate).toBe(8000);
    expectFleetEquals(api, originals, new Set([...originals.keys()].filter((k) => !third.has(k))));
    const record = (await store.agentRecord(first.meta.id, agentKey(ids[0]!.org_id, ids[0]!.agent_id)))!;
    expect(record.error).toContain('changed since batch conflict: name');

    const forced = await createRollback({ store, originId: 'conflict', force: true });
    const second = await workToEnd(api, prefix, forced.meta.id);
    expect(second.counts).toMatchObject({ restored: 2, unchanged: 4, conflict: 0 });
    expectFleetEquals(api, originals);
  });

  it('a rollback of a rollback returns to the rolled-out state', async () => {
    const api = await startMock({ agents: 5 });
    const prefix = testPrefix('rb-rb');
    const file = manifest('rbrb.ndjson', api.agentIds().map((a) => ({ ...a, patch: { prompt_template: { $replace: { find: 'Role', with: 'Role Role' } } } })));
    await runToEnd(api, prefix, file, 'rbrb');
    const rolledOut = snapshotFleet(api);
    const store = new BatchStore(redis, prefix);
    const undo = await createRollback({ store, originId: 'rbrb' });
    await workToEnd(api, prefix, undo.meta.id);
    const redo = await createRollback({ store, originId: undo.meta.id });
    const result = await workToEnd(api, prefix, redo.meta.id);
    expect(result.counts).toMatchObject({ restored: 5 });
    expectFleetEquals(api, rolledOut);
  });

  it('--agents restricts the rollback to a list', async () => {
    const api = await startMock({ agents: 6 });
    const prefix = testPrefix('rb-partial');
    const originals = snapshotFleet(api);
    const ids = api.agentIds();
    const file = manifest('partial.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Partial' } })));
    await runToEnd(api, prefix, file, 'partial');
    const listFile = path.join(dir, 'agents.csv');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(listFile, `org_id,agent_id\n${ids[0]!.org_id},${ids[0]!.agent_id}\n${ids[3]!.org_id},${ids[3]!.agent_id}\n`);
    const result = await runCli(['rollback', 'partial', '--agents', listFile, '--run', '--json'], { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ counts: { restored: 2 } });
    const chosen = new Set([agentKey(ids[0]!.org_id, ids[0]!.agent_id), agentKey(ids[3]!.org_id, ids[3]!.agent_id)]);
    expectFleetEquals(api, originals, chosen);
    expect(ids.filter((a) => api.agent(a.org_id, a.agent_id)!.name === 'Partial')).toHaveLength(4);
  });

  it('the CLI exits 1 when a rollback meets a conflict, and 2 for a bad agent list', async () => {
    const api = await startMock({ agents: 3 });
    const prefix = testPrefix('rb-cli');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const ids = api.agentIds();
    await runToEnd(api, prefix, manifest('cli.ndjson', ids.map((a) => ({ ...a, patch: { name: 'CLI' } }))), 'cli');
    await fetch(`${api.url}/org/${ids[0]!.org_id}/agents/${ids[0]!.agent_id}`, { method: 'PATCH', headers: { 'x-api-key': api.apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Hand' }) });
    const result = await runCli(['rollback', 'cli', '--run'], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('conflict 1');
    const { writeFileSync } = await import('node:fs');
    const bad = path.join(dir, 'bad-agents.csv');
    writeFileSync(bad, 'org_id,agent_id\no1,a b\n');
    const badList = await runCli(['rollback', 'cli', '--agents', bad], env);
    expect(badList.code).toBe(2);
    expect(badList.stderr).toContain(`${bad}:2: agent_id: contains characters outside [A-Za-z0-9._:-]`);
  });

  it('rolling back a batch still running first cancels what has not started', async () => {
    const api = await startMock({ agents: 30, latencyMs: 30 });
    const prefix = testPrefix('rb-running');
    const originals = snapshotFleet(api);
    const file = manifest('running.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Halfway' } })));
    const { startBatch } = await import('./helpers/engine.js');
    const run = await startBatch(api, prefix, file, 'running', { rate: 20, attempts: 6, backoffMs: 20, backoffCapMs: 200 }, { concurrency: 2 });
    await new Promise((r) => setTimeout(r, 700));
    await run.stop();
    const { meta, cancelledOrigin } = await createRollback({ store: run.store, originId: 'running' });
    expect(cancelledOrigin).toBe(true);
    expect((await run.store.getBatch('running'))!.status).toBe('cancelled');
    const result = await workToEnd(api, prefix, meta.id);
    expect(result.meta.status).toBe('completed');
    expectFleetEquals(api, originals);
  });
});

describe('report', () => {
  it('round-trips in csv, json and ndjson, with before and after in json', async () => {
    const api = await startMock({ agents: 4 });
    const prefix = testPrefix('report');
    const ids = api.agentIds();
    api.configure({ agentStatus: { [ids[0]!.agent_id]: 422 } });
    const originals = snapshotFleet(api);
    await runToEnd(api, prefix, manifest('report.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Reported' } }))), 'report');
    const env = { REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const csv = await runCli(['report', 'report'], env);
    expect(csv.code).toBe(0);
    const rows = parse(csv.stdout, { columns: true }) as Array<Record<string, string>>;
    expect(rows).toHaveLength(4);
    const applied = rows.filter((r) => r.status === 'applied');
    expect(applied.map((r) => [r.changed_fields, r.attempts])).toEqual([['name', '1'], ['name', '1'], ['name', '1']]);
    expect(rows.find((r) => r.agent_id === ids[0]!.agent_id)).toMatchObject({ status: 'failed', error: expect.stringContaining('422') });

    const outFile = path.join(dir, 'report.json');
    expect((await runCli(['report', 'report', '--format', 'json', '--out', outFile], env)).code).toBe(0);
    const json = JSON.parse(readFileSync(outFile, 'utf8')) as Array<{ org_id: string; agent_id: string; status: string; before: Agent; after: Agent }>;
    expect(json).toHaveLength(4);
    for (const row of json.filter((r) => r.status === 'applied')) {
      expect(row.before).toEqual(originals.get(agentKey(row.org_id, row.agent_id)));
      expect(row.after).toEqual(api.agent(row.org_id, row.agent_id));
    }
    const nd = await runCli(['report', 'report', '--format', 'ndjson'], env);
    expect(nd.stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual(expect.arrayContaining(json.map((r) => expect.objectContaining({ agent_id: r.agent_id, status: r.status }))));
  });

  it('neutralises spreadsheet formulas in CSV cells', async () => {
    for (const cell of ['=HYPERLINK("x")', '+1', '-2', '@SUM(A1)', '\tx', '\rx']) expect(neutraliseCell(cell)).toBe(`'${cell}`);
    expect(neutraliseCell('PATCH /org/o/agents/a: 400 bad')).toBe('PATCH /org/o/agents/a: 400 bad');
    const api = await startMock({ agents: 1 });
    const prefix = testPrefix('report-formula');
    const [a] = api.agentIds();
    await runToEnd(api, prefix, manifest('formula.ndjson', [{ ...a, patch: { name: 'x' } }]), 'formula');
    const store = new BatchStore(redis, prefix);
    await store.finish('formula', agentKey(a!.org_id, a!.agent_id), 'failed', '*', { error: '=cmd|" /C calc"!A0' });
    const csv = await runCli(['report', 'formula'], { REDIS_URL, NOVA_FLEET_PREFIX: prefix });
    const [row] = parse(csv.stdout, { columns: true }) as Array<Record<string, string>>;
    expect(row!.error).toBe(`'=cmd|" /C calc"!A0`);
  });
});

describe('retention', () => {
  it('export then import under another prefix gives the same records and snapshots', async () => {
    const api = await startMock({ agents: 5 });
    const prefix = testPrefix('export');
    const other = testPrefix('import');
    await runToEnd(api, prefix, manifest('export.ndjson', api.agentIds().map((a) => ({ ...a, patch: { prompt_template: 'New prompt', extra_config: { min_words: 7 } } }))), 'exported');
    const store = new BatchStore(redis, prefix);
    const file = path.join(dir, 'exported.ndjson.gz');
    await exportBatch(store, 'exported', file);
    const target = new BatchStore(redis, other);
    const { meta, agents } = await importBatch(target, file);
    expect(agents).toBe(5);
    expect(meta).toMatchObject({ id: 'exported', status: 'completed', total: 5 });
    expect(await target.counts('exported')).toEqual(await store.counts('exported'));
    for (const a of api.agentIds()) {
      const key = agentKey(a.org_id, a.agent_id);
      expect(await target.agentRecord('exported', key)).toEqual(await store.agentRecord('exported', key));
    }
    await expect(importBatch(target, file)).rejects.toThrow('batch exported already exists');
    // An imported batch can be rolled back like any other.
    const rollback = await createRollback({ store: target, originId: 'exported' });
    expect(rollback.enqueued).toBe(5);
  });

  it('prune deletes old finished batches and every key of theirs, and keeps active ones', async () => {
    const api = await startMock({ agents: 3 });
    const prefix = testPrefix('prune');
    await runToEnd(api, prefix, manifest('prune.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Old' } }))), 'old-batch');
    const store = new BatchStore(redis, prefix);
    await store.createBatch({ id: 'active-batch', kind: 'rollout', manifest: 'm', digest: 'd', createdAt: 0, status: 'running', total: 0, enqueued: false, options: { rate: 1, attempts: 1, backoffMs: 1, backoffCapMs: 1 } });
    expect((await pruneBatches(store, 30)).pruned).toEqual([]);
    const { pruned, keptActive } = await pruneBatches(store, 0, Date.now() + 1000);
    expect(pruned).toEqual(['old-batch']);
    expect(keptActive).toEqual(['active-batch']);
    expect((await keysUnder(redis as never, prefix)).filter((k) => k.includes('{old-batch}'))).toEqual([]);
    expect(await store.listBatchIds()).toEqual(['active-batch']);
    expect(await store.listActiveBatchIds()).toEqual(['active-batch']);
  });
});
