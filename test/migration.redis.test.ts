/**
 * Migrations as code and the library entry (SPEC §12): a module default-exporting
 * `defineMigration({ select, transform })`, imported from 'nova-fleet', is planned (the transform runs
 * there only) and the plan applied; a transform that throws is that agent's error (exit 1).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apply, defineMigration, plan, status, UsageError, validate } from 'nova-fleet';
import type { AgentPlan } from '../src/plan/plan.js';
import { readPlanFile } from '../src/plan/plan-file.js';
import { runCli, ROOT } from './helpers/cli.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-migration-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fixture = (name: string) => path.join(ROOT, 'test/fixtures/migrations', name);

async function plannedAgents(file: string): Promise<AgentPlan[]> {
  const agents: AgentPlan[] = [];
  await readPlanFile(file, (a) => void agents.push(a));
  return agents;
}

describe('defineMigration', () => {
  it('refuses a bad selector or a missing transform when the module loads', () => {
    expect(() => defineMigration({ select: { orgs: [] }, transform: () => null })).toThrow('invalid migration: select.orgs: must name at least one org');
    expect(() => defineMigration({ select: { orgs: ['o1'] } } as never)).toThrow('transform: must be a function');
  });
});

describe('a migration module', () => {
  it('jobs/cap-temperature.migration.mjs: planned, then applied — exactly the OpenAI voice agents above 0.5 change, and only their temperature', async () => {
    const api = await startMock({ agents: 100, orgs: 3, seed: 1, promptBytes: 300 });
    const prefix = testPrefix('migration');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const before = new Map(api.agentIds().map((a) => [a.agent_id, api.agent(a.org_id, a.agent_id)!]));
    const llm = (a: Record<string, unknown>) => a.llm_config as { provider: string; temperature: number; model: string };
    const expected = [...before.values()].filter((a) => a.type === 'voice' && llm(a).provider === 'openai' && llm(a).temperature > 0.5).map((a) => a.id).sort();
    expect(expected.length).toBeGreaterThan(3);
    const planFile = path.join(dir, 'cap.plan.json');
    const planned = await runCli(['plan', path.join(ROOT, 'jobs/cap-temperature.migration.mjs'), '--out', planFile, '--rate', '1000'], env);
    expect(planned.code, planned.stderr).toBe(0);
    const agents = await plannedAgents(planFile);
    expect(agents.filter((a) => a.status === 'change').map((a) => a.agent_id).sort()).toEqual(expected);
    expect(api.stats().byMethod.PATCH).toBeUndefined();

    const applied = await runCli(['apply', planFile, '--run', '--rate', '1000'], env);
    expect(applied.code, applied.stderr).toBe(0);
    for (const [id, old] of before) {
      const now = api.agent(old.organization_id as string, id)!;
      if (expected.includes(id)) expect(now.llm_config).toEqual({ ...llm(old), temperature: 0.5 });
      else expect(now).toEqual(old);
    }
  });

  it('a TypeScript module: an agent whose transform throws is reported for that agent, the others planned, exit 1', async () => {
    const api = await startMock({ agents: 40, orgs: 2, promptBytes: 200 });
    const [org] = api.orgIds as [string];
    const chats = api.agentIds().filter((a) => a.org_id === org && api.agent(a.org_id, a.agent_id)!.type === 'chat');
    const withGoodbye = chats.filter((a) => (api.agent(a.org_id, a.agent_id)!.goodbye_config as { enabled: boolean }).enabled);
    expect(withGoodbye.length).toBeGreaterThan(1);
    const victim = withGoodbye[0]!.agent_id;
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, MIGRATION_ORGS: org, MIGRATION_THROW_FOR: victim };
    const planFile = path.join(dir, 'move.plan.json');
    const result = await runCli(['plan', fixture('move-goodbye.ts'), '--out', planFile, '--rate', '1000'], env);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toContain(`${org}/${victim}: error — transform threw: cannot migrate this one`);
    const agents = await plannedAgents(planFile);
    expect(agents).toHaveLength(chats.length);
    expect(agents.filter((a) => a.status === 'change')).toHaveLength(withGoodbye.length - 1);
    const one = agents.find((a) => a.status === 'change')!;
    expect(one.changes!.map((c) => c.path).sort()).toEqual(['goodbye_config.enabled', 'greeting_config.greeting']);
  });

  it('validate loads it offline: its selector described (exit 0), a bad one refused naming the module (exit 2)', async () => {
    const env = { NOVA_API_URL: 'http://127.0.0.1:9', NOVA_API_KEY: 'k' };
    const ok = await runCli(['validate', path.join(ROOT, 'jobs/cap-temperature.migration.mjs')], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('valid migration — the agents of 3 orgs');
    expect(ok.stdout).toContain('of type voice where llm_config.provider="openai"');
    const bad = await runCli(['validate', fixture('bad-select.mjs')], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('cannot load migration');
    expect(bad.stderr).toContain('bad-select.mjs: invalid migration: select.type: must be one of voice, chat, video');
  });

  it("a module outside the checkout imports 'nova-fleet' (.mjs and .ts alike); a .ts that fails to load gets a hint that works", async () => {
    // Defect 8: "Cannot find module 'nova-fleet'" for any migration not under this package.
    const env = { NOVA_API_URL: 'http://127.0.0.1:9', NOVA_API_KEY: 'k' };
    const body = "import { defineMigration } from 'nova-fleet';\nexport default defineMigration({ select: { orgs: ['o1'], type: 'chat' }, transform: (agent) => ({ name: `${String(agent.name)} (v2)` }) });\n";
    for (const name of ['outside.mjs', 'outside.ts']) {
      const file = path.join(dir, name);
      writeFileSync(file, name.endsWith('.ts') ? body.replace('(agent)', '(agent: { name?: unknown })') : body);
      const result = await runCli(['validate', file], env);
      expect(result.code, `${name}: ${result.stderr}`).toBe(0);
      expect(result.stdout).toContain('valid migration — the agents of 1 org');
    }
    const broken = path.join(dir, 'broken.ts');
    writeFileSync(broken, "import { nothing } from './missing-helper';\nexport default nothing;\n");
    const failed = await runCli(['validate', broken], env);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain('cannot load migration');
    expect(failed.stderr).toContain(`npx jiti ${broken}`);
  });

  it('a module that does not default-export a migration is exit 2 naming it', async () => {
    const result = await runCli(['plan', fixture('not-a-migration.mjs')], { NOVA_API_URL: 'http://127.0.0.1:9', NOVA_API_KEY: 'k' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('not-a-migration.mjs does not default-export a migration');
  });
});

describe("the library entry ('nova-fleet')", () => {
  it('validate, plan, apply and status as functions: data and exit codes, typed errors, no exit', async () => {
    const api = await startMock({ agents: 100, orgs: 3, seed: 1, promptBytes: 300 });
    const prefix = testPrefix('migration-lib');
    const saved = { ...process.env };
    Object.assign(process.env, { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL });
    try {
      const report = await validate(path.join(ROOT, 'jobs/prompt-rollout.json'));
      expect(report.ok).toBe(true);
      const notes: string[] = [];
      const out = path.join(dir, 'lib.plan.json');
      const planned = await plan(path.join(ROOT, 'jobs/cap-temperature.migration.mjs'), { out, rate: 1000, onNote: (l) => notes.push(l) });
      expect(planned.exitCode).toBe(0);
      expect((planned.counts as { change: number }).change).toBeGreaterThan(3);
      expect(notes.some((n) => n.startsWith('plan: reading'))).toBe(true);
      const applied = await apply(out, { prefix, run: true, batch: 'lib', rate: 1000 });
      expect(applied.exitCode).toBe(0);
      expect(((await status('lib', { prefix })).meta as { status: string }).status).toBe('completed');
      const error = await plan(path.join(dir, 'missing.json')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as UsageError).exitCode).toBe(2);
    } finally {
      process.env = saved;
    }
  });
});
