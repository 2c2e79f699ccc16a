/** `plan` against the real mock over loopback: reads every agent, never PATCHes, reports honestly. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManifestFiles } from '../src/manifest/files.js';
import { scanManifest } from '../src/manifest/validate.js';
import { planManifest, type AgentPlan } from '../src/plan/plan.js';
import { collect, spawnCli } from './helpers/cli.js';
import { clientFor, startMock } from './helpers/mock.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function manifest(name: string, rows: unknown[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n'));
  return file;
}

describe('plan', () => {
  it('reads every agent, counts changes per field, and sends no PATCH', async () => {
    const api = await startMock({ agents: 12 });
    const [a, b, c] = api.agentIds();
    const current = api.agent(b!.org_id, b!.agent_id)!;
    const file = manifest('plan.ndjson', [
      { ...a, patch: { name: 'Renamed', vad_config: { sample_rate: 44100 } } },
      { ...b, patch: { name: current.name } },
      { ...c, patch: { prompt_template: { $replace: { find: 'Role', with: 'Your role' } } } },
      { org_id: a!.org_id, agent_id: 'ghost', patch: { name: 'x' } },
    ]);
    const seen: AgentPlan[] = [];
    const summary = await planManifest({
      rows: scanManifest(file),
      client: clientFor(api),
      files: new ManifestFiles(file),
      pace: 100,
      concurrency: 4,
      onAgent: (p) => void seen.push(p),
    });
    expect(summary.counts).toEqual({ change: 2, unchanged: 1, missing: 1, invalid: 0, skipped: 0, error: 0 });
    expect(summary.fields).toEqual({ name: 1, 'vad_config.sample_rate': 1, prompt_template: 1 });
    expect(summary.problems).toMatchObject([{ agent_id: 'ghost', status: 'missing', line: 4 }]);
    expect(seen).toHaveLength(4);
    expect(api.stats().byMethod).toEqual({ GET: 4 });
    expect(api.stats().patchesApplied).toBe(0);
  });

  it('waits out 429s without spending attempts (one attempt per read is enough), and still sends no PATCH', async () => {
    const api = await startMock({ agents: 6, rateLimit: 20, burst: 1 });
    const file = manifest('limited.ndjson', api.agentIds().map((ids) => ({ ...ids, patch: { name: 'x' } })));
    const summary = await planManifest({ rows: scanManifest(file), client: clientFor(api), files: new ManifestFiles(file), pace: 50, concurrency: 4, attempts: 1 });
    expect(summary.problems).toEqual([]);
    expect(summary.counts.change).toBe(6);
    expect(api.stats().byMethod.PATCH).toBeUndefined();
    // The test really met 429s (6 reads at 50/s into a 20/s API with no burst), and read every agent.
    expect(api.stats().byStatus['429'] ?? 0).toBeGreaterThan(0);
    expect(api.stats().byStatus['200']).toBe(6);
  });

  it('the CLI writes the plan with every diff to --out, exits 1 for a missing agent, and PATCHes nothing', async () => {
    const api = await startMock({ agents: 5 });
    const rows = api.agentIds().map((ids) => ({ ...ids, patch: { goodbye_config: { message: 'Bye now' } } }));
    const file = manifest('cli.ndjson', [...rows, { org_id: rows[0]!.org_id, agent_id: 'gone', patch: { name: 'x' } }]);
    const outFile = path.join(dir, 'plan-out.json');
    const result = await collect(spawnCli(['plan', file, '--out', outFile, '--rate', '200'], { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey }));
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('plan: 6 agents — 5 would change, 0 unchanged, 1 missing');
    const lines = (JSON.parse(readFileSync(outFile, 'utf8')) as { agents: AgentPlan[] }).agents;
    expect(lines).toHaveLength(6);
    expect(lines.filter((l) => l.status === 'change').map((l) => l.changes![0]!.path)).toEqual(Array(5).fill('goodbye_config.message'));
    expect(api.stats().byMethod).toEqual({ GET: 6 });
  });

  it('the CLI exits 3 when the API refuses the key, and 2 without a key, before any PATCH', async () => {
    const api = await startMock({ agents: 2 });
    const file = manifest('auth.ndjson', api.agentIds().map((ids) => ({ ...ids, patch: { name: 'x' } })));
    const refused = await collect(spawnCli(['plan', file], { NOVA_API_URL: api.url, NOVA_API_KEY: 'wrong' }));
    expect(refused.code).toBe(3);
    const org = api.agentIds()[0]!.org_id;
    expect(refused.stderr).toContain(`the API refused the key of org ${org} (401: Invalid or missing API key); that key is NOVA_API_KEY`);
    // With a keys file, the message names the file's line, not NOVA_API_KEY (issue 24).
    const keys = path.join(path.dirname(file), 'plan-keys');
    writeFileSync(keys, `${org}=wrong-too\n`, { mode: 0o600 });
    const fromFile = await collect(spawnCli(['plan', file], { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, NOVA_API_KEYS_FILE: keys }));
    expect(fromFile.code).toBe(3);
    expect(fromFile.stderr).toContain(`the API refused the key of org ${org} (401: Invalid or missing API key); that key is its line in the keys file ${keys}`);
    expect(fromFile.stderr).not.toContain('wrong-too');
    const noKey = await collect(spawnCli(['plan', file], { NOVA_API_URL: api.url, NOVA_API_KEY: '' }));
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('NOVA_API_KEY is not set');
    expect(api.stats().byMethod.PATCH).toBeUndefined();
  });

  it('the CLI exits 2 on an invalid manifest without a single request', async () => {
    const api = await startMock({ agents: 2 });
    const file = manifest('bad.ndjson', [{ org_id: 'o', agent_id: 'a', patch: { nmae: 'x' } }]);
    const result = await collect(spawnCli(['plan', file], { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey }));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('bad.ndjson:1: nmae: unknown field (did you mean "name"?)');
    expect(api.stats().total).toBe(0);
  });
});
