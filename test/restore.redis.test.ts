/**
 * Point-in-time restore (issue 29, SPEC §16): two batches over the same agents undone in one command,
 * each agent back to its original; an agent edited since the tool last wrote it left alone (a conflict).
 */
import { describe, expect, it } from 'vitest';
import { BatchStore } from '../src/store/batch-store.js';
import { restoreBatch } from '../src/ops/restore.js';
import { runCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('restore');

describe('restore --to', () => {
  it('before both batches: every agent back to its original, the one edited since left alone as a conflict; to between them: the first batch stays', async () => {
    const api = await startMock({ agents: 6, orgs: 2 });
    const prefix = testPrefix('restore');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const ids = api.agentIds();
    const original = new Map(ids.map((a) => [a.agent_id, api.agent(a.org_id, a.agent_id)!]));
    expect((await runCli(['run', manifest('r1.ndjson', ids.map((a) => ({ ...a, patch: { name: 'First' } }))), '--batch', 'one', '--rate', '200'], env)).code).toBe(0);
    expect((await runCli(['run', manifest('r2.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Second', prompt_template: 'Second prompt' } }))), '--batch', 'two', '--rate', '200'], env)).code).toBe(0);
    // A third party edits one agent after both batches.
    const edited = ids[5]!;
    await fetch(`${api.url}/org/${edited.org_id}/agents/${edited.agent_id}`, { method: 'PATCH', headers: { 'x-api-key': api.apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Theirs' }) });

    // To between them: the second batch undone, the first kept (dry: enqueued, then worked by --run next).
    const between = await runCli(['restore', '--yes', '--to', 'two', '--run', '--rate', '200', '--batch', 'back-to-one'], env);
    expect(between.code, between.stderr).toBe(1); // the edited agent: a conflict
    for (const a of ids.slice(0, 5)) {
      const now = api.agent(a.org_id, a.agent_id)!;
      expect([now.name, now.prompt_template]).toEqual(['First', original.get(a.agent_id)!.prompt_template]);
    }
    const store = new BatchStore(redis, prefix);
    expect(await store.counts('back-to-one')).toMatchObject({ applied: 5, conflict: 1 });

    // A batch still at work on these agents (submitted, no worker: running) is not raced: refused, nothing
    // made; cancelled, it is no obstacle.
    expect((await runCli(['submit', manifest('r3.ndjson', ids.slice(0, 2).map((a) => ({ ...a, patch: { name: 'Third' } }))), '--batch', 'three'], env)).code).toBe(0);
    const raced = await runCli(['restore', '--yes', '--to', 'one', '--batch', 'too-soon'], env);
    expect(raced.code).toBe(2);
    expect(raced.stderr).toContain('restore: batch three (running) holds 2 of these agents — its changes would land after the restore');
    expect(await store.getBatch('too-soon')).toBeUndefined();
    expect((await runCli(['cancel', 'three'], env)).code).toBe(0);

    // Before both: the originals — the restore batch of a moment ago undone as well, in one command.
    const both = await runCli(['restore', '--yes', '--to', 'one', '--run', '--rate', '200', '--batch', 'back-to-start', '--reason', 'undo the week'], env);
    expect(both.code, both.stderr).toBe(1);
    expect(both.stderr).toContain('any edited since the tool last wrote it is left alone as a conflict');
    for (const a of ids.slice(0, 5)) {
      const now = api.agent(a.org_id, a.agent_id)!;
      expect([now.name, now.prompt_template]).toEqual([original.get(a.agent_id)!.name, original.get(a.agent_id)!.prompt_template]);
    }
    expect(api.agent(edited.org_id, edited.agent_id)!.name).toBe('Theirs');
    expect((await store.agentRecord('back-to-start', `${edited.org_id}/${edited.agent_id}`))!.status).toBe('conflict');
    // Recorded: who restored, and why.
    // One entry per action: the restore (not an `apply` of the plan it builds beside it); the runs as `run`.
    expect((await store.audit.read({ batch: 'back-to-start' })).map((e) => [e.action, e.reason])).toEqual([['restore', 'undo the week']]);
    expect((await store.audit.read({ batch: 'one' })).map((e) => e.action)).toEqual(['run']);
    // A batch begun on these agents while the question is read: looked at again after the answer, refused.
    const asked = restoreBatch({ to: 'one', prefix, batch: 'read-too-long' }, {
      note: () => {},
      confirm: async () => {
        expect((await runCli(['submit', manifest('r4.ndjson', ids.slice(0, 1).map((a) => ({ ...a, patch: { name: 'Meanwhile' } }))), '--batch', 'meanwhile'], env)).code).toBe(0);
      },
    });
    await expect(asked).rejects.toThrow('restore: batch meanwhile (running) holds 1 of these agents');
    expect(await store.getBatch('read-too-long')).toBeUndefined();
    expect((await runCli(['cancel', 'meanwhile'], env)).code).toBe(0);
    // SPEC §16's --agents FILE: read and checked as rollback's agent list is (a missing one is exit 2, nothing made).
    const missing = await runCli(['restore', '--to', 'one', '--agents', '/nonexistent/agents.csv'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('/nonexistent/agents.csv');
    // Nothing left to undo since a moment ago: said, no batch.
    const none = await runCli(['restore', '--to', new Date(Date.now() + 60_000).toISOString()], env);
    expect(none.code).toBe(0);
    expect(none.stderr).toContain('nothing to restore');
  }, 60_000);
});
