/**
 * Every agent's history (issue 29, SPEC §16): the batches that snapshotted it, oldest first, with who
 * submitted each and how it ended; `--json` carries the snapshots; a pruned batch leaves the index.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';
import { BatchStore } from '../src/store/batch-store.js';

const { manifest, redis } = engineFixtures('history');

describe('history ORG_ID/AGENT_ID', () => {
  it('two batches over the same agents: both shown, with their actors; a rollback too; --json has the snapshots', async () => {
    const api = await startMock({ agents: 4, orgs: 1 });
    const prefix = testPrefix('history');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const ids = api.agentIds();
    const agent = `${ids[0]!.org_id}/${ids[0]!.agent_id}`;
    const original = api.agent(ids[0]!.org_id, ids[0]!.agent_id)!.name;
    const first = manifest('h1.ndjson', ids.map((a) => ({ ...a, patch: { name: 'First' } })));
    const second = manifest('h2.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Second', prompt_template: 'Second prompt' } })));
    expect((await runCli(['run', first, '--batch', 'one', '--rate', '200'], { ...env, NOVA_FLEET_ACTOR: 'alice' })).code).toBe(0);
    expect((await runCli(['run', second, '--batch', 'two', '--rate', '200'], { ...env, NOVA_FLEET_ACTOR: 'bob' })).code).toBe(0);
    expect((await runCli(['rollback', 'two', '--run', '--rate', '200'], { ...env, NOVA_FLEET_ACTOR: 'carol' })).code).toBe(0);

    const text = await runCli(['history', agent], env);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toBe(`agent ${agent}:`);
    expect(lines.slice(1).map((l) => l.replace(/^\S+ \S+ {2}/, ''))).toEqual([
      'one (rollout by alice)  applied  name',
      'two (rollout by bob)  applied  name, prompt_template',
      expect.stringMatching(/^two-rollback-\w+ \(rollback by carol\) {2}restored {2}(name, prompt_template|prompt_template, name)$/),
    ]);

    const json = await runCli(['history', agent, '--json'], env);
    const history = JSON.parse(json.stdout) as { entries: Array<{ batchId: string; before: { name: string }; after: { name: string } }>; gone: number };
    expect(history.entries.map((e) => [e.before.name, e.after.name])).toEqual([[original, 'First'], ['First', 'Second'], ['Second', 'First']]);

    const firstAt = (JSON.parse(json.stdout) as { entries: Array<{ at: number }> }).entries[0]!.at;
    const archive = path.join(mkdtempSync(path.join(os.tmpdir(), 'nf-history-')), 'one.ndjson.gz');
    expect((await runCli(['export', 'one', archive], env)).code).toBe(0);

    // Pruned batches leave the agents' index.
    expect((await runCli(['prune', '--older-than', '0', '--yes'], env)).code).toBe(0);
    expect((await runCli(['history', agent], env)).stdout.trim()).toBe(`agent ${agent}: no batch has touched it`);
    // Remembered as pruned (a journal of it is no batch Redis lost) until an import brings it back.
    const store = new BatchStore(redis, prefix);
    expect(await store.pruned.has('one')).toBe(true);
    // An imported batch joins it again, at the time it first snapshotted the agent (not the import's).
    expect((await runCli(['import', archive], env)).code).toBe(0);
    const back = JSON.parse((await runCli(['history', agent, '--json'], env)).stdout) as { entries: Array<{ batchId: string; at: number }> };
    expect(back.entries.map((e) => [e.batchId, e.at])).toEqual([['one', firstAt]]);
    expect(await store.pruned.has('one')).toBe(false);
    expect((await runCli(['history', 'no-slash'], env)).code).toBe(2);
  }, 60_000);
});
