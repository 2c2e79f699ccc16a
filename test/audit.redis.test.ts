/**
 * Who did what (issue 29, SPEC §16): every action's actor (NOVA_FLEET_ACTOR, else user@host) and
 * --reason in the audit log, the submitter shown by status, and --four-eyes refusing an approve by the
 * batch's own submitter (exit 2).
 */
import { describe, expect, it } from 'vitest';
import { BatchStore } from '../src/store/batch-store.js';
import { collect, runCli, spawnCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { until } from './helpers/hold.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('audit');

describe('who did what', () => {
  it('records each action with its actor and reason; a --four-eyes batch refuses its submitter’s approve', async () => {
    const api = await startMock({ agents: 6, orgs: 1 });
    const prefix = testPrefix('audit');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const as = (actor: string) => ({ ...env, NOVA_FLEET_ACTOR: actor });
    const file = manifest('audit.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Audited' } })));
    const refusedFlags = await runCli(['submit', file, '--four-eyes', '--batch', 'y'], as('alice'));
    expect(refusedFlags.code).toBe(2);
    expect(refusedFlags.stderr).toContain('--four-eyes is about who approves each wave: give --approve too');

    const submitted = await runCli(['submit', file, '--waves', '50%,100%', '--approve', '--four-eyes', '--batch', 'audited', '--reason', 'prompt v2, ticket OPS-7'], as('alice'));
    expect(submitted.code, submitted.stderr).toBe(0);
    const worker = spawnCli(['worker', '--log-level', 'warn'], as('worker'));
    const done = collect(worker);
    const store = new BatchStore(redis, prefix);
    try {
      await until(async () => ((await store.getBatch('audited'))?.status === 'waiting_approval' ? true : undefined), 'wave 1 to wait for approval');
      const own = await runCli(['approve', 'audited'], as('alice'));
      expect(own.code).toBe(2);
      expect(own.stderr).toContain('was submitted with --four-eyes by alice: its waves are approved by someone else');
      const other = await runCli(['approve', 'audited', '--reason', 'looked at wave 1'], as('bob'));
      expect(other.code, other.stderr).toBe(0);
      await until(async () => ((await store.getBatch('audited'))?.status === 'completed' ? true : undefined), 'the batch to complete');
    } finally {
      worker.kill('SIGINT');
      await done;
    }
    expect((await runCli(['pause', 'audited', '--reason', 'incident 42'], as('carol'))).code).toBe(2); // completed: refused, not recorded

    const audit = await runCli(['audit', '--json', '--since', '1h'], env);
    const entries = JSON.parse(audit.stdout) as Array<{ actor: string; action: string; batch?: string; reason?: string; detail?: string }>;
    expect(entries.map((e) => [e.actor, e.action, e.batch, e.reason ?? null])).toEqual([
      ['bob', 'approve', 'audited', 'looked at wave 1'],
      ['alice', 'submit', 'audited', 'prompt v2, ticket OPS-7'],
    ]);
    expect(entries[1]!.detail).toMatch(/^6 agents from /);
    const text = await runCli(['audit', '--batch', 'audited'], env);
    expect(text.stdout).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}bob {2}approve audited \(wave 1\) — "looked at wave 1"\n/);
    expect((await runCli(['audit', '--batch', 'nothing'], env)).stdout.trim()).toBe('no actions recorded');
    expect((await runCli(['audit', '--since', 'yesterday'], env)).code).toBe(2);

    // The batch's own event stream (BullMQ's: what a QueueEvents listener reads) carries them too.
    const events = await redis.xrange(`${prefix}:{audited}:agents:events`, '-', '+');
    const actions = events.map(([, f]) => Object.fromEntries(f.flatMap((v, i) => (i % 2 === 0 ? [[v, f[i + 1]]] : [])))).filter((e) => e.event === 'action');
    expect(actions.map((e) => [e.actor, e.action, e.reason])).toEqual([
      ['alice', 'submit', 'prompt v2, ticket OPS-7'],
      ['bob', 'approve', 'looked at wave 1'],
    ]);

    const status = await runCli(['status', 'audited'], env);
    expect(status.stdout).toContain('  by        alice (--four-eyes: approved by someone else)\n');
    expect(status.stdout).toMatch(/ {2}actions \(newest first; `nova-fleet audit --batch audited` for all\)\n {4}\S+ \S+ {2}bob {2}approve/);
  }, 60_000);

  it('without NOVA_FLEET_ACTOR the actor is user@host', async () => {
    const api = await startMock({ agents: 2, orgs: 1 });
    const prefix = testPrefix('audit-host');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix, NOVA_FLEET_ACTOR: '' };
    const file = manifest('host.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Hosted' } })));
    expect((await runCli(['submit', file, '--batch', 'hosted'], env)).code).toBe(0);
    const [entry] = (await new BatchStore(redis, prefix).audit.read()) ?? [];
    expect(entry!.actor).toMatch(/^[^@\s]+@[^@\s]+$/);
    expect((await new BatchStore(redis, prefix).getBatch('hosted'))!.submittedBy).toBe(entry!.actor);
  }, 30_000);
});
