/** Preconditions (SPEC §11): `expect` on a row, checked on the agent right before its PATCH. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkExpectation, unmetExpectation } from '../src/patch/expect.js';
import { BatchStore } from '../src/store/batch-store.js';
import { runCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { redis } = engineFixtures('expect');
const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-expect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('expect', () => {
  it('compares JSON values deep-equal and says what differs', () => {
    const agent = { id: 'a', extra_config: { min_words: 2, allow_interruptions: true }, llm_config: { model: 'm', provider: 'openai' } };
    expect(unmetExpectation(agent, { 'extra_config.min_words': 2, 'extra_config.allow_interruptions': true })).toBeUndefined();
    expect(unmetExpectation(agent, { 'extra_config.min_words': 3 })).toBe('extra_config.min_words is 2, expected 3');
    expect(unmetExpectation(agent, { 'extra_config.min_words': '2' })).toBe('extra_config.min_words is 2, expected "2"');
    expect(unmetExpectation(agent, { llm_config: { model: 'm', provider: 'openai' } })).toBeUndefined();
    expect(unmetExpectation(agent, { 'vad_config.sample_rate': 16000 })).toBe('vad_config.sample_rate is absent, expected 16000');
    expect(checkExpectation({ 'a..b': 1 })).toEqual([{ path: 'expect.a..b', message: 'is not a dotted path such as llm_config.model' }]);
    expect(checkExpectation([1])[0]!.message).toMatch(/^must be an object/);
  });

  it('on a number: only the matching agents change, the others are skipped with the reason and nothing sent (NDJSON and CSV)', async () => {
    const api = await startMock({ agents: 12, orgs: 2, recordRequests: true });
    const ids = api.agentIds();
    const words = (a: { org_id: string; agent_id: string }) => (api.agent(a.org_id, a.agent_id)!.extra_config as { min_words: number }).min_words;
    const target = words(ids[0]!);
    const matching = ids.filter((a) => words(a) === target);
    expect(matching.length).toBeGreaterThan(0);
    expect(matching.length).toBeLessThan(ids.length);
    const prefix = testPrefix('expect');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const half = ids.length / 2;
    const ndjson = path.join(dir, 'expect.ndjson');
    writeFileSync(ndjson, ids.slice(0, half).map((a) => JSON.stringify({ ...a, expect: { 'extra_config.min_words': target }, patch: { name: 'Preconditioned' } })).join('\n'));
    const csv = path.join(dir, 'expect.csv');
    writeFileSync(csv, ['org_id,agent_id,expect.extra_config.min_words,name', ...ids.slice(half).map((a) => `${a.org_id},${a.agent_id},${target},Preconditioned`)].join('\n'));
    for (const [file, batch] of [[ndjson, 'expect-json'], [csv, 'expect-csv']] as const) {
      const run = await runCli(['run', file, '--batch', batch, '--rate', '500'], env);
      // Exit 1 when any agent of the batch was skipped (SPEC §6: not all of the work ran as asked).
      const rows = file === ndjson ? ids.slice(0, half) : ids.slice(half);
      expect(run.code).toBe(rows.every((a) => words(a) === target) ? 0 : 1);
    }
    const store = new BatchStore(redis, prefix);
    for (const a of ids) {
      const batch = ids.indexOf(a) < half ? 'expect-json' : 'expect-csv';
      const record = (await store.agentRecord(batch, `${a.org_id}/${a.agent_id}`))!;
      const meets = words(a) === target;
      expect(record.status).toBe(meets ? 'applied' : 'skipped');
      expect(api.agent(a.org_id, a.agent_id)!.name === 'Preconditioned').toBe(meets);
      if (!meets) expect(record.error).toBe(`precondition: extra_config.min_words is ${words(a)}, expected ${target}`);
    }
    // No PATCH to an agent that did not match.
    const patched = new Set(api.requests().filter((r) => r.method === 'PATCH').map((r) => r.agentId));
    expect([...patched].sort()).toEqual(matching.map((a) => a.agent_id).sort());
  });

  it('validate names a malformed expect by its line', async () => {
    const file = path.join(dir, 'bad-expect.ndjson');
    writeFileSync(file, `${JSON.stringify({ org_id: 'o1', agent_id: 'a1', expect: { 'x..y': 1 }, patch: { name: 'x' } })}\n`);
    const result = await runCli(['validate', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(':1: expect.x..y: is not a dotted path such as llm_config.model');
  });
});
