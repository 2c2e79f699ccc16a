/**
 * A batch written to Redis by an earlier version (test/fixtures/batch-v0.json: made by nova-fleet at
 * commit b414ff0, before the store was rebuilt for issue 15 — key by key, values as stored) is read,
 * reported on, judged (its halt reason's kind) and rolled back by this version.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { Agent } from '../src/api/types.js';
import { haltKind } from '../src/batch/halt.js';
import { WRITABLE_FIELDS } from '../src/patch/fields.js';
import { BatchStore } from '../src/store/batch-store.js';
import { clientFor, startMock } from './helpers/mock.js';
import { ROOT, runCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { redis } = engineFixtures('compat');

interface Fixture {
  mock: { agents: number; orgs: number; promptBytes: number; seed: number };
  after: Record<string, Agent>;
  keys: Record<string, { type: 'hash'; value: Record<string, string> } | { type: 'string'; value: string } | { type: 'set' | 'list'; value: string[] } | { type: 'zset'; value: string[] }>;
}

const fixture = JSON.parse(readFileSync(path.join(ROOT, 'test/fixtures/batch-v0.json'), 'utf8')) as Fixture;

async function restore(prefix: string): Promise<void> {
  for (const [rel, entry] of Object.entries(fixture.keys)) {
    const key = `${prefix}:${rel}`;
    if (entry.type === 'hash') await redis.hset(key, ...Object.entries(entry.value).flatMap(([f, v]) => [f, Buffer.from(v, 'base64')]));
    else if (entry.type === 'string') await redis.set(key, Buffer.from(entry.value, 'base64'));
    else if (entry.type === 'set') await redis.sadd(key, ...entry.value);
    else if (entry.type === 'list') await redis.rpush(key, ...entry.value);
    else for (let i = 0; i < entry.value.length; i += 2) await redis.zadd(key, entry.value[i + 1]!, entry.value[i]!);
  }
}

describe('a batch made by an earlier version', () => {
  it('is shown, reported, judged by its halt kind and rolled back to the originals', async () => {
    // The fleet that version ran against (its before snapshots are of it).
    const api = await startMock({ ...fixture.mock, plainText: true });
    const originals = new Map(api.agentIds().map((a) => [`${a.org_id}/${a.agent_id}`, api.agent(a.org_id, a.agent_id)!]));
    // The fleet as that version's run left it.
    const client = clientFor(api);
    for (const [key, after] of Object.entries(fixture.after)) {
      const [org, id] = key.split('/') as [string, string];
      const before = originals.get(key)!;
      const body = Object.fromEntries(Object.keys(WRITABLE_FIELDS).filter((f) => !isDeepStrictEqual(before[f], after[f])).map((f) => [f, after[f]]));
      if (Object.keys(body).length > 0) await client.patchAgent(org, id, body);
    }
    const prefix = testPrefix('compat');
    await restore(prefix);
    const store = new BatchStore(redis, prefix);
    const meta = (await store.getBatch('compat-1'))!;
    expect(meta).toMatchObject({ id: 'compat-1', status: 'halted', maxFailures: 0, enqueued: true, total: 7 });
    expect(haltKind(meta)).toBe('error_budget');
    expect(await store.counts('compat-1')).toMatchObject({ applied: 6, failed: 1, pending: 0 });

    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const status = await runCli(['status', 'compat-1'], env);
    expect(status.code).toBe(0);
    expect(status.stdout + status.stderr).toContain('error_budget: 1 agents failed, 0 allowed');
    const report = await runCli(['report', 'compat-1', '--format', 'json'], env);
    const rows = JSON.parse(report.stdout) as Array<{ status: string; before?: Agent; after?: Agent }>;
    expect(rows).toHaveLength(7);
    for (const row of rows.filter((r) => r.status === 'applied')) expect(originals.has(`${row.before!.organization_id}/${row.before!.id}`)).toBe(true);
    // The halt's kind decides: a plain resume is refused as an error-budget halt.
    const resume = await runCli(['resume', 'compat-1'], env);
    expect(resume.code).toBe(2);
    expect(resume.stderr).toContain('was halted by its error budget');

    const rolled = await runCli(['rollback', 'compat-1', '--run'], env);
    expect(rolled.code, rolled.stderr).toBe(0);
    for (const [key, original] of originals) {
      const [org, id] = key.split('/') as [string, string];
      const now = api.agent(org, id)!;
      for (const field of Object.keys(WRITABLE_FIELDS)) expect(now[field], `${key} ${field}`).toEqual(original[field]);
    }
  });
});
