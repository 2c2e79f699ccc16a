/**
 * `plan show PLAN` (issue 30): a saved plan for review — identical diffs once with their agent count,
 * the agents that cannot change named, `--format markdown` a review comment whose table survives the
 * values' pipes and back-quotes, `--json` the groups; a plan edited after it was sealed is refused.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest } = engineFixtures('plan-show');

describe('plan show', () => {
  it('groups identical diffs, names the rest; markdown and JSON; a tampered plan is exit 2', async () => {
    const api = await startMock({ agents: 12, orgs: 2 });
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: testPrefix('plan-show') };
    const ids = api.agentIds();
    // Every agent first given the same prompt, so that the planned change is the same diff for each.
    expect((await runCli(['run', manifest('same.ndjson', ids.map((a) => ({ ...a, patch: { prompt_template: 'Old prompt' } }))), '--rate', '200'], env)).code).toBe(0);
    const rows = [
      ...ids.slice(0, 10).map((a) => ({ ...a, patch: { prompt_template: 'New | `prompt`' } })),
      { ...ids[10]!, patch: { prompt_template: 'New | `prompt`', name: 'Renamed' } },
      { ...ids[11]!, patch: { prompt_template: 'Old prompt' } },
      { org_id: ids[0]!.org_id, agent_id: 'no-such-agent', patch: { name: 'x' } },
    ];
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nf-plan-show-'));
    const planFile = path.join(dir, 'plan.json');
    expect((await runCli(['plan', manifest('plan.ndjson', rows), '--out', planFile, '--rate', '200'], env)).code).toBe(1); // one missing

    const text = await runCli(['plan', 'show', planFile]);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[1]).toBe('13 agents — 11 would change, 1 unchanged, 1 missing');
    expect(text.stdout).toContain('\n1. 10 agents, 1 field:\n     prompt_template: "Old prompt" → "New | `prompt`"\n');
    expect(text.stdout).toMatch(/\n {5}\S+\/\S+, \S+\/\S+, \S+\/\S+, \S+\/\S+, \S+\/\S+ and 5 more\n/);
    expect(text.stdout).toContain('\n2. 1 agent, 2 fields:\n');
    expect(text.stdout).toMatch(/not changeable:\n {2}line 13 \S+\/no-such-agent: missing/);

    const md = await runCli(['plan', 'show', planFile, '--format', 'markdown']);
    expect(md.stdout).toContain('| field | before | after |\n|---|---|---|\n| `prompt_template` | `"Old prompt"` | `"New \\| \'prompt\'"` |');
    expect(md.stdout).toContain('#### 1. 10 agents');
    expect(md.stdout).toContain('#### Not changeable');

    const json = JSON.parse((await runCli(['plan', 'show', planFile, '--json'])).stdout) as { groups: Array<{ agents: number; named: string[] }>; counts: Record<string, number> };
    expect(json.groups.map((g) => g.agents)).toEqual([10, 1]);
    expect(json.counts).toMatchObject({ change: 11, unchanged: 1, missing: 1 });

    // Edited after it was sealed: refused, as apply refuses it.
    writeFileSync(planFile, readFileSync(planFile, 'utf8').replace('New | `prompt`', 'Evil | `prompt`'));
    const tampered = await runCli(['plan', 'show', planFile]);
    expect(tampered.code).toBe(2);
    expect(tampered.stderr).toMatch(/plan\.json/);
    expect((await runCli(['plan', 'show', path.join(dir, 'none.json')])).code).toBe(2);
  }, 60_000);
});
