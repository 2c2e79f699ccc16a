/** `select` (SPEC §11): the agents of named orgs that match, through the list endpoint and GETs. */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseWhere, valueAt } from '../src/select/select.js';
import { runCli } from './helpers/cli.js';
import { startMock } from './helpers/mock.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-select-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--where', () => {
  it('reads PATH=VALUE with VALUE as JSON, else as text, and refuses what is not a path', () => {
    expect(parseWhere('llm_config.model=gpt-4o')).toEqual({ path: ['llm_config', 'model'], value: 'gpt-4o' });
    expect(parseWhere('extra_config.min_words=3')).toEqual({ path: ['extra_config', 'min_words'], value: 3 });
    expect(parseWhere('goodbye_config={"enabled":true}')).toEqual({ path: ['goodbye_config'], value: { enabled: true } });
    expect(() => parseWhere('=x')).toThrow('is not PATH=VALUE');
    expect(() => parseWhere('a..b=1')).toThrow('is not a dotted path');
    expect(() => parseWhere('__proto__.x=1')).toThrow('is not a dotted path');
    expect(valueAt({ id: 'a', llm_config: { model: 'm' } }, ['llm_config', 'model'])).toBe('m');
    expect(valueAt({ id: 'a' }, ['llm_config', 'model'])).toBeUndefined();
  });
});

describe('nova-fleet select', () => {
  it('returns exactly the agents of the org that match type and where, in every page, and no more', async () => {
    const api = await startMock({ agents: 450, orgs: 2, promptBytes: 200 });
    const [org] = api.orgIds as [string];
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey };
    const expected = api
      .agentIds()
      .filter((a) => a.org_id === org)
      .map((a) => api.agent(a.org_id, a.agent_id)!)
      .filter((a) => a.type === 'voice' && (a.llm_config as { model: string }).model === 'gpt-4.1')
      .map((a) => a.id)
      .sort();
    expect(expected.length).toBeGreaterThan(10);
    const out = path.join(dir, 'voice-gpt41.csv');
    const result = await runCli(['select', '--org', org, '--type', 'voice', '--where', 'llm_config.model=gpt-4.1', '--out', out, '--rate', '2000'], env);
    expect(result.code, result.stderr).toBe(0);
    const [header, ...rows] = readFileSync(out, 'utf8').trim().split('\n');
    expect(header).toBe('org_id,agent_id');
    expect(rows.map((r) => r.split(',')[0])).toEqual(rows.map(() => org));
    expect(rows.map((r) => r.split(',')[1]).sort()).toEqual(expected);
    // Pages of 100 listed the org's voice agents (3 pages for ~180), then one GET per listed agent; no PATCH.
    const voiceCount = api.agentIds().filter((a) => a.org_id === org && api.agent(a.org_id, a.agent_id)!.type === 'voice').length;
    expect(api.stats().byMethod).toEqual({ GET: Math.ceil(voiceCount / 100) + voiceCount });
    expect(result.stderr).toContain(`select: ${expected.length} agents in 1 org written to ${out}`);
  });

  it('without --where reads only the list; ndjson to stdout; --search filters by name', async () => {
    const api = await startMock({ agents: 60, orgs: 2, promptBytes: 200 });
    const [first, second] = api.orgIds as [string, string];
    const name = api.agent(first, api.agentIds().find((a) => a.org_id === first)!.agent_id)!.name as string;
    const word = name.split(' ')[0]!;
    const result = await runCli(['select', '--org', first, '--org', second, '--search', word.toLowerCase(), '--format', 'ndjson'], { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey });
    expect(result.code, result.stderr).toBe(0);
    const rows = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { org_id: string; agent_id: string });
    const expected = api.agentIds().filter((a) => String(api.agent(a.org_id, a.agent_id)!.name).toLowerCase().includes(word.toLowerCase()));
    // Org by org, as named; each in the list's order.
    const inOrder = [first, second].flatMap((org) => expected.filter((a) => a.org_id === org));
    expect(rows).toEqual(inOrder.map((a) => ({ org_id: a.org_id, agent_id: a.agent_id })));
    expect(Object.keys(api.stats().byMethod)).toEqual(['GET']);
    expect(api.stats().byMethod.GET).toBe(2); // one page per org
  });

  it('an id from the API that no manifest can hold (a formula, an escape code) is left out and named; --json prints one JSON array', async () => {
    // Defect 12/7: ids were written unchecked into the CSV; --json printed CSV.
    let org = '';
    const bad = ['=HYPERLINK("http://x","y")', '\u001b[31mred', '../../etc'];
    const api = await startMock({
      agents: 3,
      orgs: 1,
      intercept: (request) => {
        if (request.agentId !== undefined || request.method !== 'GET') return undefined;
        const good = api.agentIds().map((a) => ({ id: a.agent_id, name: 'n', type: 'voice', created_at: 't', updated_at: 't' }));
        const data = [...good, ...bad.map((id) => ({ id, name: 'n', type: 'voice', created_at: 't', updated_at: 't' }))];
        return { status: 200, body: { data, meta: { page: 1, size: 100, total: data.length, total_pages: 1 } } };
      },
    });
    org = api.orgIds[0]!;
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey };
    const csv = await runCli(['select', '--org', org], env);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout.trim().split('\n')).toEqual(['org_id,agent_id', ...api.agentIds().map((a) => `${org},${a.agent_id}`)]);
    expect(csv.stderr).toContain('=HYPERLINK');
    expect(csv.stderr).toContain('contains characters outside');
    expect(csv.stderr).not.toContain('\u001b');
    const json = await runCli(['select', '--org', org, '--json'], env);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(api.agentIds().map((a) => ({ org_id: org, agent_id: a.agent_id })));
  });

  it('refuses --all-orgs and a missing --org (exit 2), and a refused key is exit 3', async () => {
    const api = await startMock({ agents: 4, orgs: 1 });
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey };
    const all = await runCli(['select', '--all-orgs'], env);
    expect(all.code).toBe(2);
    expect(all.stderr).toContain('--all-orgs is refused');
    expect((await runCli(['select'], env)).code).toBe(2);
    const refused = await runCli(['select', '--org', api.orgIds[0]!], { ...env, NOVA_API_KEY: 'wrong' });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(`the API refused the key of org ${api.orgIds[0]} (401: Invalid or missing API key); that key is NOVA_API_KEY`);
  });
});
