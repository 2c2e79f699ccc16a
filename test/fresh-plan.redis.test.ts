/**
 * One request per changed agent (issue 28, SPEC §15): `apply` of a fresh plan PATCHes each agent the
 * list endpoint shows unchanged since the plan with the plan's snapshot as its before — no GET; an agent
 * edited after the plan is read and judged as always (a conflict); one edited between its list row and
 * its PATCH is flagged; the before snapshot kept is the plan's, so a rollback restores it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchStore } from '../src/store/batch-store.js';
import { collect, runCli, spawnCli } from './helpers/cli.js';
import { until } from './helpers/hold.js';
import { engineFixtures } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { redis } = engineFixtures('fresh-plan');
const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-fresh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('apply of a fresh plan', () => {
  it('sends one PATCH per changed agent and no GET; the agents edited since are found — after the plan a conflict, between list row and PATCH flagged', async () => {
    let sideEdit: (() => Promise<void>) | undefined;
    let editing = '';
    const api = await startMock({
      agents: 30,
      orgs: 2,
      promptBytes: 400,
      recordRequests: true,
      // The PATCH of one agent waits while someone else edits its name: after its list row was read.
      intercept: async (request) => {
        if (request.method === 'PATCH' && request.agentId === editing && sideEdit) {
          const edit = sideEdit;
          sideEdit = undefined;
          await edit();
        }
      },
    });
    const ids = api.agentIds();
    const prefix = testPrefix('fresh');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const manifest = path.join(dir, 'fresh.ndjson');
    writeFileSync(manifest, ids.map((a) => JSON.stringify({ ...a, patch: { prompt_template: 'Planned prompt v2' } })).join('\n'));
    const planFile = path.join(dir, 'fresh-plan.json');
    // Two agents already carry the planned prompt: the plan finds them unchanged.
    const headers = { 'x-api-key': api.apiKey, 'content-type': 'application/json' };
    const already = [ids[10]!, ids[20]!];
    for (const a of already) await fetch(`${api.url}/org/${a.org_id}/agents/${a.agent_id}`, { method: 'PATCH', headers, body: JSON.stringify({ prompt_template: 'Planned prompt v2' }) });
    expect((await runCli(['plan', manifest, '--out', planFile, '--rate', '500'], env)).code).toBe(0);

    // After the plan: a third party edits one agent's planned field (its updated_at moves).
    const [moved, between] = [ids[3]!, ids[7]!];
    await fetch(`${api.url}/org/${moved.org_id}/agents/${moved.agent_id}`, { method: 'PATCH', headers, body: JSON.stringify({ prompt_template: 'Their prompt' }) });
    // Between its list row and its PATCH: another agent's name.
    editing = between.agent_id;
    sideEdit = async () => {
      await fetch(`${api.url}/org/${between.org_id}/agents/${between.agent_id}`, { method: 'PATCH', headers, body: JSON.stringify({ name: 'Renamed meanwhile' }) });
    };
    const original = api.agent(ids[0]!.org_id, ids[0]!.agent_id)!.prompt_template;
    const requestsBefore = api.requests().length;

    const apply = await runCli(['apply', planFile, '--run', '--batch', 'fresh', '--rate', '500', '--no-preflight'], env);
    expect(apply.code, apply.stderr).toBe(1); // the conflict
    const store = new BatchStore(redis, prefix);
    expect(await store.counts('fresh')).toMatchObject({ applied: 27, conflict: 1, unchanged: 2, pending: 0 });
    expect(apply.stderr).toContain('2 the plan found unchanged are recorded so, without a request');
    // Requests: a list page per org (30 agents, pages of 100), one GET (the moved agent), 27 PATCHes.
    // (The side edit's own PATCH is among them: the mock saw it too.)
    const sent = api.requests().slice(requestsBefore);
    const counts = await store.requestCounts('fresh');
    expect(counts).toEqual({ get: 1, patch: 27, list: 2, calls: 0 });
    // The agents the plan found unchanged: recorded so, and never asked about.
    for (const a of already) {
      expect(sent.filter((r) => r.agentId === a.agent_id)).toEqual([]);
      expect(await store.agentRecord('fresh', `${a.org_id}/${a.agent_id}`)).toMatchObject({ status: 'unchanged', error: 'unchanged when the plan read it: no request sent' });
    }
    expect(sent.filter((r) => r.method === 'GET' && r.agentId !== undefined).map((r) => r.agentId)).toEqual([moved.agent_id]);
    expect(sent.filter((r) => r.method === 'GET' && r.agentId === undefined)).toHaveLength(2);
    // The moved agent: read, judged, left alone as a conflict.
    expect(api.agent(moved.org_id, moved.agent_id)!.prompt_template).toBe('Their prompt');
    expect((await store.agentRecord('fresh', `${moved.org_id}/${moved.agent_id}`))!.error).toMatch(/^changed since the plan: prompt_template is "Their prompt"/);
    // The agent edited between its list row and its PATCH: applied, and flagged in its record.
    const flagged = (await store.agentRecord('fresh', `${between.org_id}/${between.agent_id}`))!;
    expect(flagged.status).toBe('applied');
    expect(flagged.error).toMatch(/^flagged: name changed beside this PATCH since the plan read the agent/);
    // Every other agent: the plan's snapshot is its before, the reply its after.
    const record = (await store.agentRecord('fresh', `${ids[0]!.org_id}/${ids[0]!.agent_id}`))!;
    expect(record.before!.prompt_template).toBe(original);
    expect(record.after!.prompt_template).toBe('Planned prompt v2');
    expect(record.error).toBeUndefined();

    // The rollback restores the plan's snapshot (and reads each agent first, as rollbacks do).
    const undo = await runCli(['rollback', 'fresh', '--run', '--rate', '500'], env);
    expect(undo.code, undo.stderr).toBe(0);
    expect(api.agent(ids[0]!.org_id, ids[0]!.agent_id)!.prompt_template).toBe(original);
  }, 60_000);

  it('the agents a plan found unchanged do not count toward its waves: wave 1 is its share of the agents it works on', async () => {
    const api = await startMock({ agents: 10, orgs: 1 });
    const ids = api.agentIds();
    const prefix = testPrefix('fresh-waves');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const headers = { 'x-api-key': api.apiKey, 'content-type': 'application/json' };
    // Six of ten already as planned: four to change, waves of 50% (2) then the rest.
    for (const a of ids.slice(0, 6)) await fetch(`${api.url}/org/${a.org_id}/agents/${a.agent_id}`, { method: 'PATCH', headers, body: JSON.stringify({ name: 'Waved' }) });
    const manifest = path.join(dir, 'waves.ndjson');
    writeFileSync(manifest, ids.map((a) => JSON.stringify({ ...a, patch: { name: 'Waved' } })).join('\n'));
    const planFile = path.join(dir, 'waves-plan.json');
    expect((await runCli(['plan', manifest, '--out', planFile, '--rate', '500'], env)).code).toBe(0);
    expect((await runCli(['apply', planFile, '--batch', 'waved', '--waves', '50%,100%', '--approve', '--rate', '500', '--no-preflight'], env)).code).toBe(0);
    const worker = spawnCli(['worker', '--log-level', 'warn'], env);
    const done = collect(worker);
    const store = new BatchStore(redis, prefix);
    try {
      const meta = await until(async () => ((await store.getBatch('waved'))?.status === 'waiting_approval' ? store.getBatch('waved') : undefined), 'the batch to wait for approval after wave 1');
      // Waiting after wave 1 with its two agents changed — not at once on the six settled ones.
      expect(meta!.total).toBe(10);
      expect(await store.counts('waved')).toMatchObject({ applied: 2, unchanged: 6, pending: 2 });
    } finally {
      worker.kill('SIGINT');
      await done;
    }
  }, 45_000);
});
