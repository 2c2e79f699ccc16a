/**
 * `plan --out PLAN.json` → `apply PLAN.json` (SPEC §12): exactly the reviewed change, drift since the
 * plan a conflict left alone, an edited, cut-short or stale plan refused before anything is created.
 */
import { createHash } from 'node:crypto';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AgentPlan } from '../src/plan/plan.js';
import { readPlanFile } from '../src/plan/plan-file.js';
import { BatchStore } from '../src/store/batch-store.js';
import { runCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { clientFor, startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { redis } = engineFixtures('apply');
const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-apply-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The plan's text with its digest computed again over its edited lines. */
function reseal(text: string): string {
  const lines = text.split('\n').filter((line) => line !== '');
  const body = lines.slice(0, -1).map((line) => `${line}\n`).join('');
  return `${body}"digest":"${createHash('sha256').update(body).digest('hex')}"}\n`;
}

describe('plan --out, then apply', () => {
  it('applies exactly the plan; agents edited since are conflicts left alone (exit 1); retry --force applies them', async () => {
    const api = await startMock({ agents: 12, orgs: 2, promptBytes: 300 });
    const ids = api.agentIds();
    const prefix = testPrefix('apply');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const manifest = path.join(dir, 'rollout.ndjson');
    writeFileSync(manifest, ids.map((a) => JSON.stringify({ ...a, patch: { name: { $replace: { find: ' 0', with: ' No. 0' } }, goodbye_config: { message: 'Planned bye' } } })).join('\n'));
    const planFile = path.join(dir, 'plan.json');
    const plan = await runCli(['plan', manifest, '--out', planFile, '--rate', '500'], env);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`apply exactly it with \`nova-fleet apply ${planFile}\``);
    // The plan is one JSON document, and holds every agent's planned values.
    const whole = JSON.parse(readFileSync(planFile, 'utf8')) as { header: { manifest: string }; agents: AgentPlan[]; digest: string };
    expect(whole.header.manifest).toBe(manifest);
    expect(whole.agents).toHaveLength(ids.length);
    const planned = new Map(whole.agents.map((a) => [a.agent_id, a]));

    // A third party edits two planned agents' planned field, and another agent's unplanned field.
    const client = clientFor(api);
    const renamed = ids.filter((a) => planned.get(a.agent_id)!.changes!.some((c) => c.path === 'name'));
    expect(renamed.length).toBeGreaterThan(2);
    const edited1 = ids.find((a) => !renamed.includes(a)) ?? renamed[2]!;
    const [edited2, other] = [renamed[0]!, renamed[1]!];
    await client.patchAgent(edited1.org_id, edited1.agent_id, { goodbye_config: { message: 'Theirs' } });
    await client.patchAgent(edited2.org_id, edited2.agent_id, { name: 'Renamed by them' });
    await client.patchAgent(other.org_id, other.agent_id, { prompt_template: 'Their prompt' });
    // The name the plan showed is applied even though the manifest's $replace would now give another.
    const apply = await runCli(['apply', planFile, '--run', '--batch', 'applied', '--rate', '500'], env);
    expect(apply.code, apply.stderr).toBe(1);
    const store = new BatchStore(redis, prefix);
    expect(await store.counts('applied')).toMatchObject({ applied: ids.length - 2, conflict: 2, pending: 0 });
    for (const a of ids) {
      const now = api.agent(a.org_id, a.agent_id)!;
      const change = (path: string) => planned.get(a.agent_id)!.changes!.find((c) => c.path === path)?.after;
      if (a === edited1) {
        expect((now.goodbye_config as { message: string }).message).toBe('Theirs');
        expect((await store.agentRecord('applied', `${a.org_id}/${a.agent_id}`))!.error).toBe(`changed since the plan: goodbye_config.message is "Theirs", expected "${String(planned.get(a.agent_id)!.changes!.find((c) => c.path === 'goodbye_config.message')!.before)}" (left alone; \`nova-fleet retry applied --force\` applies anyway)`);
      } else if (a === edited2) {
        expect(now.name).toBe('Renamed by them');
      } else {
        if (renamed.includes(a)) expect(now.name).toBe(change('name'));
        expect((now.goodbye_config as { message: string }).message).toBe('Planned bye');
      }
    }
    expect(api.agent(other.org_id, other.agent_id)!.prompt_template).toBe('Their prompt');

    // Applying the same plan again does not apply it twice: its batch has finished.
    const again = await runCli(['apply', planFile], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('was already submitted as batch applied');

    const forced = await runCli(['retry', 'applied', '--force', '--run'], env);
    expect(forced.code, forced.stderr).toBe(0);
    expect(api.agent(edited2.org_id, edited2.agent_id)!.name).toBe(planned.get(edited2.agent_id)!.changes!.find((c) => c.path === 'name')!.after);

    // A new batch of the same plan, every agent already at its target: `unchanged`, never a conflict
    // (defect 5: each was reported a conflict, as its value is no longer the one the plan saw).
    const patches = api.stats().byMethod.PATCH ?? 0;
    const fresh = await runCli(['apply', planFile, '--new', '--run', '--batch', 'again', '--rate', '500'], env);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(await store.counts('again')).toMatchObject({ unchanged: ids.length, conflict: 0, applied: 0 });
    expect(api.stats().byMethod.PATCH ?? 0).toBe(patches);
  }, 60_000); // plan, apply, retry and reports: ~21 s beside the whole suite on a loaded 2-core machine

  it('refuses an edited, cut-short, stale or foreign plan with exit 2, creating nothing', async () => {
    const api = await startMock({ agents: 4, orgs: 1 });
    const prefix = testPrefix('apply-refused');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const manifest = path.join(dir, 'small.ndjson');
    writeFileSync(manifest, api.agentIds().map((a) => JSON.stringify({ ...a, patch: { name: 'Reviewed' } })).join('\n'));
    const planFile = path.join(dir, 'small-plan.json');
    expect((await runCli(['plan', manifest, '--out', planFile], env)).code).toBe(0);
    const text = readFileSync(planFile, 'utf8');
    let seen = 0;
    await readPlanFile(planFile, () => void seen++);
    expect(seen).toBe(4);

    const cases: Array<[string, string, string[]]> = [
      ['edited', text.replace('"Reviewed"', '"Sneaky"'), ['was edited after it was written']],
      ['cut', text.split('\n').slice(0, 3).join('\n'), ['the plan is incomplete']],
      ['foreign', '{"agents": []}\n', ['not a nova-fleet plan']],
      // Hostile: a prototype key as a path, and a line longer than the bound (read in bounded memory).
      ['proto', text.replace('"path":"name"', '"path":"__proto__.polluted"'), ['changes.0.path: not a dotted path']],
      ['huge', text.replace('"Reviewed"', `"${'x'.repeat(9 * 1024 * 1024)}"`), ['line longer than 8 MiB']],
      ['escapes', text.replace(`"manifest":"${manifest}"`, `"manifest":"${manifest}\\u001b[2J"`), ['header: manifest: holds control characters']],
      ['stale', text, ['--max-age', '1s']],
      // Edited and sealed again (the seal is a digest, not a signature): a planned value that a patch
      // would read as a directive — a local file sent to the agent — is refused, not applied.
      ['resealed', reseal(text.replaceAll('"after":"Reviewed"', '"after":{"$file":"../../../etc/hostname"}')), ['would be read as a directive']],
    ];
    for (const [name, content, extra] of cases) {
      const file = path.join(dir, `${name}.json`);
      writeFileSync(file, content);
      if (name === 'stale') await new Promise((r) => setTimeout(r, 1100));
      const result = await runCli(['apply', file, ...(name === 'stale' ? extra : [])], env);
      expect(result.code, `${name}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toContain(name === 'stale' ? 'more than --max-age' : extra[0]!);
    }
    const store = new BatchStore(redis, prefix);
    expect(await store.listBatchIds()).toEqual([]);
    expect(api.stats().byMethod.PATCH).toBeUndefined();

    // The submit flags work on apply: a staged rollout of the plan, its window and budget kept.
    const staged = await runCli(['apply', planFile, '--batch', 'staged', '--waves', '1,100%', '--approve', '--max-failures', '1', '--window', '00:00-23:59 UTC'], env);
    expect(staged.code, staged.stderr).toBe(0);
    expect(await store.getBatch('staged')).toMatchObject({ waves: [1, 4], approve: true, maxFailures: 1, window: '00:00-23:59 UTC', manifest: planFile, options: { planned: true } });
  }, 60_000); // a dozen CLI processes in a row: ~25 s beside the whole suite on a loaded 2-core machine
});
