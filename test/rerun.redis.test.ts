/**
 * Re-running never repeats (SPEC §13), through the real CLI as an operator does it: `run` at 2
 * requests/s, Ctrl-C (SIGINT) in the middle, the same command again. The second run attaches to the
 * first batch, so every `$replace` is applied exactly once; a third, after the batch finished, is
 * refused (exit 2, naming the batch) unless `--new`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MockApi } from '../src/mock/server.js';
import { BatchStore } from '../src/store/batch-store.js';
import { connectRedis } from '../src/store/connect.js';
import { collect, runCli, spawnCli } from './helpers/cli.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-rerun-'));
const redis = connectRedis(REDIS_URL);
afterAll(() => {
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const envFor = (api: MockApi, prefix: string) => ({ NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix });
const ON_THE_WIRE = 60;

describe('run, Ctrl-C, run again', () => {
  it('stops sending at SIGINT, attaches on the re-run, applies every $replace exactly once, then refuses a third run', async () => {
    const api = await startMock({ agents: 12, recordRequests: true });
    const originals = new Map(api.agentIds().map((a) => [a.agent_id, String(api.agent(a.org_id, a.agent_id)!.prompt_template)]));
    const prefix = testPrefix('rerun');
    const env = envFor(api, prefix);
    const file = path.join(dir, 'replace.ndjson');
    writeFileSync(file, api.agentIds().map((a) => JSON.stringify({ ...a, patch: { prompt_template: { $replace: { find: 'Role', with: 'Role Role' } } } })).join('\n'));

    // 1. At 2 requests/s with 8 in flight, interrupted once a few agents are done.
    const first = spawnCli(['run', file, '--rate', '2', '--concurrency', '8'], env);
    const firstDone = collect(first);
    const deadline = Date.now() + 20_000;
    while (api.stats().byMethod.PATCH === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 1200));
    first.kill('SIGINT');
    const interruptedAt = Date.now();
    const one = await firstDone;
    expect(one.code, one.stderr).toBe(1);
    expect(one.stderr).toContain('interrupted');
    // No request started after Ctrl-C, and the process did not wait for its reserved slots.
    expect(api.requests().filter((r) => r.t > interruptedAt + ON_THE_WIRE)).toEqual([]);
    expect(Date.now() - interruptedAt).toBeLessThan(3500); // the reserved slots reach 4 s ahead
    const batchId = /→ batch (\S+)/.exec(one.stderr)![1]!;
    const store = new BatchStore(redis, prefix);
    expect((await store.counts(batchId)).pending).toBeGreaterThan(0);

    // 2. The same command (a faster rate): it carries on with the same batch.
    const two = await runCli(['run', file, '--rate', '50', '--concurrency', '8'], env);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stderr).toContain(`already has batch ${batchId}`);
    expect(two.stderr).toContain('rate changed from 2 to 50');
    expect((await store.listBatchIds()).length).toBe(1);
    for (const a of api.agentIds()) {
      expect(api.agent(a.org_id, a.agent_id)!.prompt_template, a.agent_id).toBe(originals.get(a.agent_id)!.split('Role').join('Role Role'));
    }
    expect(Object.values(api.stats({ perAgent: true }).appliedPerAgent!)).toEqual(api.agentIds().map(() => 1));

    // 3. Once more: the batch has finished, so it is refused, naming it; nothing is sent.
    const before = api.stats().total;
    const three = await runCli(['run', file], env);
    expect(three.code).toBe(2);
    expect(three.stderr).toContain(`was already submitted as batch ${batchId}, which is completed`);
    expect(three.stderr).toContain('--new');
    expect(api.stats().total).toBe(before);

    // 4. --new makes a separate batch (validate warned that this $replace is not idempotent).
    const check = await runCli(['validate', file], env);
    expect(check.code).toBe(0);
    expect(check.stderr).toContain('prompt_template: warning: $replace is not idempotent');
    const four = await runCli(['submit', file, '--new', '--json'], env);
    expect(four.code, four.stderr).toBe(0);
    expect((JSON.parse(four.stdout) as { batchId: string }).batchId).not.toBe(batchId);
  }, 60_000);

  it('the manifest of a cancelled batch, or of one that ended with failures, is refused (exit 2, naming it) unless --new', async () => {
    const api = await startMock({ agents: 4 });
    const prefix = testPrefix('rerun-ended');
    const env = envFor(api, prefix);
    const ids = api.agentIds();
    const cancelled = path.join(dir, 'cancelled.ndjson');
    writeFileSync(cancelled, ids.map((a) => JSON.stringify({ ...a, patch: { name: 'Cancelled' } })).join('\n'));
    const submitted = await runCli(['submit', cancelled, '--json'], env);
    const batchId = (JSON.parse(submitted.stdout) as { batchId: string }).batchId;
    expect((await runCli(['cancel', batchId], env)).code).toBe(0);
    for (const command of ['submit', 'run']) {
      const again = await runCli([command, cancelled], env);
      expect(again.code, again.stderr).toBe(2);
      expect(again.stderr).toContain(`already submitted as batch ${batchId}, which is cancelled`);
    }
    // Ended with failures (one agent answers 422 at PATCH time).
    api.configure({ patchStatus: { [ids[0]!.agent_id]: 422 } });
    const failing = path.join(dir, 'failing.ndjson');
    writeFileSync(failing, ids.map((a) => JSON.stringify({ ...a, patch: { name: 'Failing' } })).join('\n'));
    const ran = await runCli(['run', failing, '--rate', '50'], env);
    expect(ran.code, ran.stderr).toBe(1);
    const again = await runCli(['run', failing], env);
    expect(again.code, again.stderr).toBe(2);
    expect(again.stderr).toContain('which is completed_with_failures');
    expect(again.stderr).toContain('retry');
    expect(api.stats().byMethodStatus['PATCH 422']).toBe(1);
  }, 60_000);
});
