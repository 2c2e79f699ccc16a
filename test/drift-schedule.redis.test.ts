/**
 * Scheduled drift checks (issue 29, SPEC §16): `drift BATCH --every D --notify URL` registers a BullMQ
 * job scheduler; a `worker` runs each due check and POSTs a `drift` event naming the agents that differ;
 * a check that finds none stays quiet; `drift --stop` removes the schedule and the checks end; a pruned
 * batch takes its schedule with it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { collect, runCli, spawnCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { until } from './helpers/hold.js';
import { hook } from './helpers/hook.js';
import { startMock } from './helpers/mock.js';
import { keysUnder, REDIS_URL, testPrefix } from './helpers/redis.js';

const plain = new Redis(REDIS_URL);
afterAll(() => plain.disconnect());

const { manifest } = engineFixtures('drift-schedule');

interface DriftEvent {
  event: string;
  batch: string;
  checked: number;
  drifted: number;
  agents: Array<{ org_id: string; agent_id: string; kind: string; fields: string[] }>;
}

describe('drift --every', () => {
  it('a worker runs the scheduled check: quiet while nothing moved, a drift event naming the four edited agents after, none once stopped', async () => {
    const api = await startMock({ agents: 8, orgs: 2 });
    const receiver = await hook<DriftEvent>();
    const prefix = testPrefix('drift-schedule');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const ids = api.agentIds();
    const file = manifest('scheduled.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Watched' } })));
    expect((await runCli(['run', file, '--batch', 'watched', '--rate', '200'], env)).code).toBe(0);

    const scheduled = await runCli(['drift', 'watched', '--every', '1s', '--notify', receiver.url, '--rate', '200'], env);
    expect(scheduled.code, scheduled.stderr).toBe(0);
    expect(scheduled.stdout).toContain('batch watched: drift checked every 1s by the workers');
    expect((await runCli(['drift', '--list'], env)).stdout).toMatch(/^scheduled drift checks:\n {2}watched: every 1s/);

    const worker = spawnCli(['worker', '--log-level', 'info'], env);
    const output = collect(worker);
    try {
      let log = '';
      worker.stdout.on('data', (d: Buffer) => (log += d.toString()));
      // Two quiet checks: nothing is POSTed while the fleet is as the batch left it.
      await until(() => (log.match(/drift check: no drift/g)?.length ?? 0) >= 2 || undefined, 'two checks without drift', 15_000);
      expect(receiver.events).toEqual([]);

      const headers = { 'x-api-key': api.apiKey, 'content-type': 'application/json' };
      const edit = (i: number, body: object) => fetch(`${api.url}/org/${ids[i]!.org_id}/agents/${ids[i]!.agent_id}`, { method: 'PATCH', headers, body: JSON.stringify(body) });
      await edit(0, { name: 'Theirs' });
      await edit(3, { prompt_template: 'Their prompt' });
      await edit(5, { name: 'Also theirs' });
      await edit(6, { prompt_template: 'Another prompt' });

      const event = await until(() => receiver.events[0], 'a drift event', 15_000);
      expect(event).toMatchObject({ event: 'drift', batch: 'watched', checked: 8, drifted: 4 });
      expect(event.agents.map((a) => [a.agent_id, a.fields]).sort()).toEqual(
        [
          [ids[0]!.agent_id, ['name']],
          [ids[3]!.agent_id, ['prompt_template']],
          [ids[5]!.agent_id, ['name']],
          [ids[6]!.agent_id, ['prompt_template']],
        ].sort(),
      );

      const stop = await runCli(['drift', '--stop', 'watched'], env);
      expect(stop.stdout.trim()).toBe('batch watched: scheduled drift check removed');
      expect((await runCli(['drift', '--stop', 'watched'], env)).stdout.trim()).toBe('batch watched: no drift check was scheduled');
      expect((await runCli(['drift', '--list'], env)).stdout.trim()).toBe('no drift check is scheduled');
      // A check already under way may still land; after that, none.
      await new Promise((r) => setTimeout(r, 1500));
      const seen = receiver.events.length;
      await new Promise((r) => setTimeout(r, 3000));
      expect(receiver.events.length).toBe(seen);
      const audit = await runCli(['audit', '--batch', 'watched'], env);
      expect(audit.stdout).toMatch(/drift-stop/);
      expect(audit.stdout).toMatch(/drift-schedule/);
    } finally {
      worker.kill('SIGTERM');
      await output;
      receiver.close();
      await api.close();
    }
  }, 60_000);

  it('flags are checked: --every must be a duration of a second or more; --notify needs --every; an unknown batch is exit 2; prune removes the schedule', async () => {
    const api = await startMock({ agents: 2, orgs: 1 });
    const prefix = testPrefix('drift-schedule-flags');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    try {
      const file = manifest('flags.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Watched' } })));
      expect((await runCli(['run', file, '--batch', 'flagged', '--rate', '200'], env)).code).toBe(0);
      // Listing none writes nothing (a BullMQ queue opened would write its keys).
      expect((await runCli(['drift', '--list'], env)).stdout.trim()).toBe('no drift check is scheduled');
      expect(await keysUnder(plain, prefix).then((keys) => keys.filter((k) => k.includes('{:drift}')))).toEqual([]);
      const bad = await runCli(['drift', 'flagged', '--every', 'often'], env);
      expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('--every "often" is not a duration')]);
      expect((await runCli(['drift', 'flagged', '--every', '500ms'], env)).code).toBe(2);
      expect((await runCli(['drift', 'flagged', '--notify', 'http://127.0.0.1:9/x'], env)).stderr).toContain('--notify goes with --every');
      expect((await runCli(['drift', 'nope', '--every', '1h'], env)).code).toBe(2);
      // Any --rate the flag takes, the schedule keeps (it refused above 10,000 as an unexpected error).
      const fast = await runCli(['drift', 'flagged', '--every', '1h', '--rate', '50000'], env);
      expect(fast.code, fast.stderr).toBe(0);
      expect((await runCli(['drift', 'flagged', '--every', '1h'], env)).code).toBe(0);
      expect((await runCli(['drift', '--list'], env)).stdout).toContain('flagged: every 1h');
      expect((await runCli(['prune', '--older-than', '0', '--yes'], env)).code).toBe(0);
      expect((await runCli(['drift', '--list'], env)).stdout.trim()).toBe('no drift check is scheduled');
    } finally {
      await api.close();
    }
  }, 60_000);
});
