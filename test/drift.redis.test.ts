/**
 * Drift (issue 29, SPEC §16): which of a batch's agents differ now from how it left them — list rows
 * first, a GET only for the agents whose updated_at moved, per-field diffs, exit 1 on drift.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest } = engineFixtures('drift');

describe('drift BATCH', () => {
  it('four third-party edits after a batch: exactly those four are named, with their fields; a rewrite to the same value is no drift', async () => {
    const api = await startMock({ agents: 12, orgs: 2, recordRequests: true });
    const prefix = testPrefix('drift');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const ids = api.agentIds();
    const file = manifest('drift.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Drifting', prompt_template: 'Batch prompt' } })));
    expect((await runCli(['run', file, '--batch', 'drifty', '--rate', '200'], env)).code).toBe(0);
    expect((await runCli(['drift', 'drifty'], env)).code).toBe(0); // nothing moved yet

    const headers = { 'x-api-key': api.apiKey, 'content-type': 'application/json' };
    const edit = (i: number, body: object) => fetch(`${api.url}/org/${ids[i]!.org_id}/agents/${ids[i]!.agent_id}`, { method: 'PATCH', headers, body: JSON.stringify(body) });
    await edit(1, { name: 'Theirs' });
    await edit(4, { prompt_template: 'Their prompt' });
    await edit(7, { llm_config: { ...(api.agent(ids[7]!.org_id, ids[7]!.agent_id)!.llm_config as object), temperature: 0.11 } });
    await edit(10, { greeting_config: { ...(api.agent(ids[10]!.org_id, ids[10]!.agent_id)!.greeting_config as object), pause_before_first_message: 2.5 } });
    // Rewritten to the value it had: no drift (the mock, like an API that compares, keeps its updated_at).
    await edit(11, { name: 'Drifting' });
    const before = api.requests().length;

    const drift = await runCli(['drift', 'drifty', '--json', '--rate', '200'], env);
    expect(drift.code, drift.stderr).toBe(1);
    const report = JSON.parse(drift.stdout) as { checked: number; drifted: Array<{ agent_id: string; changes: Array<{ path: string }> }>; requests: { list: number; get: number } };
    expect(report.checked).toBe(12);
    expect(report.drifted.map((d) => [d.agent_id, d.changes.map((c) => c.path)]).sort()).toEqual(
      [
        [ids[1]!.agent_id, ['name']],
        [ids[4]!.agent_id, ['prompt_template']],
        [ids[7]!.agent_id, ['llm_config.temperature']],
        [ids[10]!.agent_id, ['greeting_config.pause_before_first_message']],
      ].sort(),
    );
    // A list page per org, and a GET only for the four whose updated_at moved.
    expect(report.requests).toEqual({ list: 2, get: 4 });
    const sent = api.requests().slice(before);
    expect(sent.filter((r) => r.method === 'GET' && r.agentId !== undefined)).toHaveLength(4);
    const text = await runCli(['drift', 'drifty'], env);
    expect(text.stdout).toMatch(/^batch drifty: 4 of 12 agents it changed differ now \(2 list pages, 4 GETs\)\n/);
    expect(text.stdout).toContain('name');
  }, 45_000);
});
