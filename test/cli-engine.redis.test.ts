/**
 * The engine through the real CLI: separate processes for submit, workers and status, as operators run
 * them — including a worker killed with SIGKILL mid-batch while another carries on.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchStore } from '../src/store/batch-store.js';
import { connectRedis } from '../src/store/connect.js';
import { agentKey } from '../src/store/keys.js';
import type { MockApi } from '../src/mock/server.js';
import { collect, runCli, spawnCli } from './helpers/cli.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-cli-engine-'));
const redis = connectRedis(REDIS_URL);
afterAll(() => {
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

function manifest(name: string, rows: unknown[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n'));
  return file;
}

const envFor = (api: MockApi, prefix: string, key = api.apiKey) => ({ NOVA_API_URL: api.url, NOVA_API_KEY: key, REDIS_URL, NOVA_FLEET_PREFIX: prefix });

async function waitForStatus(store: BatchStore, batchId: string, statuses: string[], timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const meta = await store.getBatch(batchId);
    if ((meta && statuses.includes(meta.status)) || Date.now() > deadline) return meta;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('CLI: submit, worker, status', () => {
  it('submit prints the batch id; a second submit adds nothing; a worker does the work and stops on SIGTERM with exit 0', async () => {
    const api = await startMock({ agents: 20, apiKey: 'sk-cli-SECRET-0123456789' });
    const prefix = testPrefix('cli-submit');
    const env = envFor(api, prefix);
    const file = manifest('submit.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'From the CLI' } })));
    const first = await runCli(['submit', file, '--batch', 'cli-1', '--rate', '200'], env);
    expect(first).toMatchObject({ code: 0, stdout: 'cli-1\n' });
    expect(first.stderr).toContain('batch cli-1 created, 20 jobs enqueued');
    const again = await runCli(['submit', file, '--batch', 'cli-1', '--json'], env);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ batchId: 'cli-1', created: false, enqueued: 0 });
    const pending = await runCli(['status', 'cli-1', '--json'], env);
    expect(JSON.parse(pending.stdout)).toMatchObject({ counts: { pending: 20 }, meta: { status: 'running', total: 20 } });

    const worker = spawnCli(['worker', '--concurrency', '4'], env);
    const done = collect(worker);
    const store = new BatchStore(redis, prefix);
    expect((await waitForStatus(store, 'cli-1', ['completed']))!.status).toBe('completed');
    worker.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    // stdout is not a terminal here: JSON log lines, every agent line with its batch, org and agent.
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; batch?: string; org?: string; agent?: string; status?: string });
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['worker started; Ctrl-C to stop', 'finishing in-flight requests…', 'worker stopped']));
    const agentLines = lines.filter((l) => l.msg === 'agent applied');
    expect(agentLines).toHaveLength(20);
    expect(new Set(agentLines.map((l) => `${l.org}/${l.agent}`)).size).toBe(20);
    expect(agentLines.every((l) => l.batch === 'cli-1' && l.status === 'applied')).toBe(true);
    expect(result.stdout + result.stderr).not.toContain('SECRET');
    expect(api.stats().byMethod.PATCH).toBe(20);

    const status = await runCli(['status', 'cli-1'], env);
    expect(status.stdout).toContain('batch cli-1 (rollout) — completed');
    expect(status.stdout).toContain('agents    applied 20');
    const list = await runCli(['batches'], env);
    expect(list.stdout).toMatch(/cli-1\s+rollout\s+completed/);
  });

  it('run exits 0 when every agent succeeds, 1 when some fail (with the reasons), 3 when the key is refused', async () => {
    const api = await startMock({ agents: 12 });
    const prefix = testPrefix('cli-run');
    const ids = api.agentIds();
    const file = manifest('run.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Run' } })));
    const ok = await runCli(['run', file, '--batch', 'run-ok', '--rate', '500'], envFor(api, prefix));
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('agents    applied 12');

    api.configure({ agentStatus: { [ids[0]!.agent_id]: 422 } });
    const file2 = manifest('run2.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Run again' } })));
    const someFail = await runCli(['run', file2, '--batch', 'run-fail', '--rate', '500'], envFor(api, prefix));
    expect(someFail.code).toBe(1);
    expect(someFail.stdout).toContain('completed_with_failures');
    expect(someFail.stdout).toMatch(/top failure reasons:\n\s+1 {2}PATCH|top failure reasons:\n\s+1 {2}GET/);

    api.configure({ agentStatus: {} });
    const file3 = manifest('run3.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Bad key' } })));
    // Preflight: the refused key is found before any batch exists (exit 3, the org named).
    const refused = await runCli(['run', file3, '--batch', 'run-key', '--concurrency', '2'], envFor(api, prefix, 'wrong'));
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('preflight: the API refused the key of orgs ');
    for (const org of new Set(ids.map((a) => a.org_id))) expect(refused.stderr).toContain(`${org} (401 with X-API-Key and with Bearer: Invalid or missing API key)`);
    expect((await runCli(['status', 'run-key'], envFor(api, prefix))).code).toBe(2);
    // Without it, the org is blocked after three refusals, nothing else is left: halted, exit 3.
    const badKey = await runCli(['run', file3, '--batch', 'run-key', '--concurrency', '2', '--no-preflight'], envFor(api, prefix, 'wrong'));
    expect(badKey.code).toBe(3);
    expect(badKey.stdout).toContain('halted: bad_credentials');
    expect(badKey.stdout).toMatch(/pending \d+/);
  }, 60_000); // four runs and a status: ~24 s beside the whole suite on a loaded 2-core machine

  it('run without NOVA_API_KEY exits 2 before creating a batch', async () => {
    const api = await startMock({ agents: 2 });
    const prefix = testPrefix('cli-nokey');
    const file = manifest('nokey.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'x' } })));
    const result = await runCli(['run', file, '--batch', 'nokey'], { ...envFor(api, prefix), NOVA_API_KEY: '' });
    expect(result.code).toBe(2);
    expect(await new BatchStore(redis, prefix).getBatch('nokey')).toBeUndefined();
  });

  it('pause, resume, cancel and retry from the CLI, and exit 2 for an unknown batch', async () => {
    const api = await startMock({ agents: 6 });
    const prefix = testPrefix('cli-control');
    const env = envFor(api, prefix);
    const file = manifest('control.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Controlled' } })));
    await runCli(['submit', file, '--batch', 'ctl-1', '--no-preflight'], env);
    expect((await runCli(['pause', 'ctl-1'], env)).stdout).toContain('batch ctl-1 is paused');
    expect((await runCli(['resume', 'ctl-1'], env)).stdout).toContain('batch ctl-1 is running');
    expect((await runCli(['cancel', 'ctl-1'], env)).stdout).toContain('batch ctl-1 is cancelled: 6 agents skipped');
    const again = await runCli(['cancel', 'ctl-1'], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('batch ctl-1 is cancelled: it cannot be cancelled');
    const missing = await runCli(['status', 'no-such-batch'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no batch no-such-batch');
    expect(api.stats().total).toBe(0);
    // retry: a cancelled batch is refused as it is, with the way to finish it; `retry --skipped --run`
    // re-enqueues the six skipped agents and works them here.
    const plain = await runCli(['retry', 'ctl-1'], env);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain('`nova-fleet retry ctl-1 --skipped` finishes its skipped and failed agents');
    const finished = await runCli(['retry', 'ctl-1', '--skipped', '--run'], env);
    expect(finished.code, finished.stderr).toBe(0);
    expect(finished.stdout).toContain('batch ctl-1: 6 failed or skipped agents enqueued again');
    expect(api.stats().byMethod.PATCH).toBe(6);
    // Ten command processes: give a machine busy with other test files time for each to start.
  }, 60_000);
});

describe('CLI: a worker killed with SIGKILL mid-batch', () => {
  it('the other worker completes the batch, nothing is applied twice, no original is lost', async () => {
    const api = await startMock({ agents: 150, latencyMs: 40, dropAfterRate: 0.05 });
    const prefix = testPrefix('cli-kill');
    const env = envFor(api, prefix);
    const ids = api.agentIds();
    const originals = new Map(ids.map((a) => [agentKey(a.org_id, a.agent_id), api.agent(a.org_id, a.agent_id)!]));
    const file = manifest('kill.ndjson', ids.map((a) => ({ ...a, patch: { prompt_template: { $replace: { find: 'Role', with: 'Role Role' } } } })));
    expect((await runCli(['submit', file, '--batch', 'kill-1', '--rate', '150'], env)).code).toBe(0);
    const victim = spawnCli(['worker', '--concurrency', '6', '--lock-duration', '2000'], env);
    const survivor = spawnCli(['worker', '--concurrency', '6', '--lock-duration', '2000'], env);
    const survivorDone = collect(survivor);
    const victimDone = collect(victim);
    const store = new BatchStore(redis, prefix);
    // Kill the victim once work is well under way.
    for (let i = 0; i < 100 && (await store.counts('kill-1')).applied < 30; i++) await new Promise((r) => setTimeout(r, 50));
    victim.kill('SIGKILL');
    expect((await victimDone).code).toBe(null);
    const meta = await waitForStatus(store, 'kill-1', ['completed', 'completed_with_failures'], 40_000);
    survivor.kill('SIGTERM');
    expect((await survivorDone).code).toBe(0);
    expect(meta!.status).toBe('completed');
    expect(await store.counts('kill-1')).toMatchObject({ applied: 150, pending: 0, failed: 0 });
    for (const a of ids) {
      const key = agentKey(a.org_id, a.agent_id);
      const original = originals.get(key)!;
      expect(api.agent(a.org_id, a.agent_id)!.prompt_template).toBe(String(original.prompt_template).split('Role').join('Role Role'));
      expect((await store.agentRecord('kill-1', key))!.before).toEqual(original);
    }
  }, 60_000);
});
