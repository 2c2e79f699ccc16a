/**
 * Selectors in manifests (SPEC §11): `{"defaults": {...}, "select": {...}}` — checked offline by
 * validate, expanded through the API by plan/submit/run, the batch frozen to the agents found.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Agent } from '../src/api/types.js';
import { checkSelector } from '../src/select/selector.js';
import { BatchStore } from '../src/store/batch-store.js';
import { runCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { clientFor, startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { redis } = engineFixtures('selector');
const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-selector-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, value: unknown): string {
  const file = path.join(dir, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return file;
}

const model = (a: Agent) => (a.llm_config as { model: string }).model;

describe('a selector', () => {
  it('is checked for its shape', () => {
    expect(checkSelector({ orgs: ['o1'], type: 'voice', where: { 'llm_config.model': 'gpt-4.1' } })).toEqual([]);
    expect(checkSelector({ orgs: [] })).toEqual([{ path: 'select.orgs', message: 'must name at least one org (orgs are always named)' }]);
    expect(checkSelector({ orgs: ['o1', 'o1'], type: 'robot', search: '', where: { 'a..b': 1 }, all: true }).map((p) => p.path)).toEqual([
      'select.all',
      'select.orgs[1]',
      'select.type',
      'select.search',
      'select.where.a..b',
    ]);
    expect(checkSelector({ orgs: ['bad id'] })[0]).toEqual({ path: 'select.orgs[0]', message: 'contains characters outside [A-Za-z0-9._:-]' });
  });

  it('validate checks it offline: exit 0 with a description; a bad one names its line and field, no API called', async () => {
    const env = { NOVA_API_URL: 'http://127.0.0.1:9', NOVA_API_KEY: 'k' };
    const good = write('good.json', { defaults: { patch: { name: 'x' } }, select: { orgs: ['o1'], type: 'voice', where: { 'llm_config.model': 'gpt-4.1' } } });
    const ok = await runCli(['validate', good], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('valid selector manifest — the agents of 1 org (o1) of type voice where llm_config.model="gpt-4.1"');
    const bad = write('bad.json', '{\n"defaults": {"patch": {"name": "x"}},\n"select": {"orgs": ["o1"], "type": "robot"}\n}');
    const refused = await runCli(['validate', bad], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${bad}:3: select.type: must be one of voice, chat, video`);
    const both = write('both.json', '{"defaults": {"patch": {"name": "x"}}, "agents": [], "select": {"orgs": ["o1"]}}');
    expect((await runCli(['validate', both], env)).stderr).toContain('a manifest holds "agents" or "select", not both');
    const noPatch = write('nopatch.json', { select: { orgs: ['o1'] } });
    expect((await runCli(['validate', noPatch], env)).stderr).toContain('defaults.patch: a selector needs "defaults" with the "patch" every selected agent gets');
  });

  it('run changes exactly the matching agents of the named org, says how many matched, and the batch stays frozen to them', async () => {
    const api = await startMock({ agents: 160, orgs: 2, promptBytes: 200, recordRequests: true });
    const [org, other] = api.orgIds as [string, string];
    const all = (): Array<Agent & { org: string }> => api.agentIds().map((a) => ({ ...api.agent(a.org_id, a.agent_id)!, org: a.org_id }));
    const matches = (a: Agent & { org: string }) => a.org === org && a.type === 'voice' && model(a) === 'gpt-4.1';
    const expected = all().filter(matches).map((a) => a.id).sort();
    expect(expected.length).toBeGreaterThan(5);
    const prefix = testPrefix('selector');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    writeFileSync(path.join(dir, 'goodbye.md'), 'Goodbye from the selector');
    const file = write('fleet.json', { defaults: { patch: { goodbye_config: { message: { $file: 'goodbye.md' } } } }, select: { orgs: [org], type: 'voice', where: { 'llm_config.model': 'gpt-4.1' } } });
    const run = await runCli(['run', file, '--batch', 'sel', '--rate', '1000'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`select: ${org}: ${expected.length} of`);
    const changed = all().filter((a) => (a.goodbye_config as { message?: string }).message === 'Goodbye from the selector');
    expect(changed.map((a) => a.id).sort()).toEqual(expected);
    expect(all().some((a) => a.org === other && (a.goodbye_config as { message?: string }).message === 'Goodbye from the selector')).toBe(false);
    const store = new BatchStore(redis, prefix);
    const meta = (await store.getBatch('sel'))!;
    expect(meta.total).toBe(expected.length);
    expect(meta.manifest).toBe(file);
    expect(await store.counts('sel')).toMatchObject({ applied: expected.length, pending: 0 });

    // Frozen: an agent that matches only now is not added by a re-run, which selects nothing again.
    const late = all().find((a) => a.org === org && a.type === 'voice' && !matches(a))!;
    await clientFor(api).patchAgent(org, late.id, { llm_config: { ...(late.llm_config as object), model: 'gpt-4.1' } });
    const lists = () => api.requests().filter((r) => r.method === 'GET' && r.agentId === undefined).length;
    const listed = lists();
    const again = await runCli(['submit', file, '--batch', 'sel'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`carrying on with its ${expected.length} selected agents — nothing is selected or enqueued again`);
    expect(lists()).toBe(listed);
    expect(meta.total).toBe((await store.getBatch('sel'))!.total);
    expect(await store.agentRecord('sel', `${org}/${late.id}`)).toBeUndefined();
  });

  it('plan expands it too, and a selector that matches nothing is refused (exit 2) before any batch', async () => {
    const api = await startMock({ agents: 30, orgs: 1, promptBytes: 200 });
    const [org] = api.orgIds as [string];
    const prefix = testPrefix('selector-none');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const voice = api.agentIds().filter((a) => api.agent(a.org_id, a.agent_id)!.type === 'voice').length;
    const file = write('plan.json', { defaults: { patch: { name: 'Planned' } }, select: { orgs: [org], type: 'voice' } });
    const plan = await runCli(['plan', file, '--rate', '1000'], env);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`plan: ${voice} agents — ${voice} would change`);
    const none = write('none.json', { defaults: { patch: { name: 'x' } }, select: { orgs: [org], where: { 'llm_config.model': 'no-such-model' } } });
    const refused = await runCli(['submit', none], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('matched no agent');
    expect(await new BatchStore(redis, prefix).listBatchIds()).toEqual([]);
  });
});
