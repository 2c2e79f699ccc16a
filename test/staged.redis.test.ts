/** Staged rollouts (SPEC §9): waves, bake, approvals, error budget, automatic rollback. */
import { hook } from './helpers/hook.js';
import { describe, expect, it } from 'vitest';
import { NovaClient } from '../src/api/client.js';
import type { Agent } from '../src/api/types.js';
import { approveBatch, resumeBatch } from '../src/ops/actions.js';
import { wakeJobs } from '../src/store/job-queue.js';
import { jobId } from '../src/batch/job.js';
import { submitBatch } from '../src/ops/create-batch.js';
import { WorkerPool } from '../src/worker/worker-pool.js';
import type { MockApi } from '../src/mock/server.js';
import { WRITABLE_FIELDS } from '../src/patch/fields.js';
import { BatchStore } from '../src/store/batch-store.js';
import type { BatchMeta, RolloutControls } from '../src/batch/records.js';
import { agentKey } from '../src/store/keys.js';
import { engineFixtures, FAST } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('staged');

/** A pool over every batch of the prefix (so it also works automatic rollbacks), and the batch submitted. */
async function stage(api: MockApi, name: string, rows: unknown[], controls: RolloutControls, concurrency = 4, options = FAST) {
  const prefix = testPrefix(name);
  const store = new BatchStore(redis, prefix);
  const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: concurrency });
  const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency, pollMs: 50 });
  await pool.start();
  await submitBatch({ store, file: manifest(`${name}.ndjson`, rows), manifestOptions: {}, batchId: name, options, controls });
  const waitFor = async (batchId: string, test: (meta: BatchMeta) => boolean, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const meta = (await store.getBatch(batchId))!;
      if (test(meta) || Date.now() > deadline) return meta;
      await new Promise((r) => setTimeout(r, 30));
    }
  };
  const stop = async () => {
    await pool.close(2000);
    client.close();
  };
  return { store, prefix, waitFor, stop };
}

/** A hook that keeps what it is sent. */
const ended = (meta: BatchMeta) => ['completed', 'completed_with_failures', 'cancelled', 'halted'].includes(meta.status);
const writable = (agent: Agent) => Object.fromEntries(Object.keys(WRITABLE_FIELDS).map((f) => [f, agent[f]]));

describe('waves', () => {
  it('run in order, each only after the previous one finished and baked', async () => {
    const api = await startMock({ agents: 20, recordRequests: true, latencyMs: 10 });
    const ids = api.agentIds();
    const run = await stage(api, 'waves', ids.map((a) => ({ ...a, patch: { name: 'Wave' } })), { waves: [1, 5, 20], bakeMs: 300 });
    const meta = await run.waitFor('waves', ended);
    await run.stop();
    expect(meta.status).toBe('completed');
    expect(meta.wave).toBe(2);
    const waveOf = (agentId: string) => {
      const index = ids.findIndex((a) => a.agent_id === agentId);
      return index < 1 ? 0 : index < 5 ? 1 : 2;
    };
    const log = api.requests();
    for (const wave of [1, 2]) {
      const lastBefore = Math.max(...log.filter((r) => waveOf(r.agentId!) === wave - 1).map((r) => r.t));
      const firstOf = Math.min(...log.filter((r) => waveOf(r.agentId!) === wave).map((r) => r.t));
      expect(firstOf - lastBefore, `wave ${wave + 1} started ${firstOf - lastBefore} ms after wave ${wave} ended`).toBeGreaterThanOrEqual(300);
    }
    expect(log).toHaveLength(40);
  });

  it('with --approve, wait after each wave until approved', async () => {
    const api = await startMock({ agents: 6, recordRequests: true });
    const ids = api.agentIds();
    const run = await stage(api, 'approve', ids.map((a) => ({ ...a, patch: { name: 'Approved' } })), { waves: [2, 6], approve: true });
    const waiting = await run.waitFor('approve', (m) => m.status === 'waiting_approval');
    expect(waiting.status).toBe('waiting_approval');
    await new Promise((r) => setTimeout(r, 400));
    expect(api.requests()).toHaveLength(4); // the first wave only: 2 agents, GET + PATCH each
    expect((await approveBatch(run.store, 'approve')).approvedWave).toBe(0);
    const meta = await run.waitFor('approve', ended);
    await run.stop();
    expect(meta.status).toBe('completed');
    expect(await run.store.counts('approve')).toMatchObject({ applied: 6 });
    await expect(approveBatch(run.store, 'approve')).rejects.toThrow('it is not waiting for approval');
  });
});

describe('error budget', () => {
  /** 40 agents, 12 of which (30%) answer 422. */
  async function failingFleet() {
    const api = await startMock({ agents: 40, recordRequests: true });
    const ids = api.agentIds();
    const failing = ids.filter((_, i) => [0, 3, 6].includes(i % 10));
    api.configure({ agentStatus: Object.fromEntries(failing.map((a) => [a.agent_id, 422])) });
    const originals = new Map(ids.map((a) => [agentKey(a.org_id, a.agent_id), api.agent(a.org_id, a.agent_id)!]));
    return { api, ids, originals, rows: ids.map((a) => ({ ...a, patch: { name: 'Budgeted' } })) };
  }

  it('halts as soon as failures exceed the budget; overshoot is bounded by what was in flight', async () => {
    const { api, rows } = await failingFleet();
    const concurrency = 4;
    // At 10 requests/s the 4 jobs in flight always wait for slots 100 ms apart: a request that starts
    // after the halt cannot hide among those already on the wire.
    const run = await stage(api, 'budget', rows, { maxFailures: 4 }, concurrency, { ...FAST, rate: 10 });
    const meta = await run.waitFor('budget', ended);
    await run.stop(); // waits for the requests in flight to land

    const counts = await run.store.counts('budget');
    expect(meta.status).toBe('halted');
    expect(meta.haltReason).toMatch(/^error_budget: \d+ agents failed, 4 allowed$/);
    expect(counts.failed).toBeGreaterThanOrEqual(5);
    expect(counts.failed).toBeLessThanOrEqual(5 + concurrency);
    expect(counts.pending).toBeGreaterThan(0);
    // No request starts after the halt: the fifth failure (a 422 read) halted the batch; nothing arrives
    // later than a request already on the wire could (checked by the gate after each slot's wait).
    const failures = api.requests().filter((r) => r.status === 422).map((r) => r.t).sort((a, b) => a - b);
    const haltedAfter = failures[4]!;
    expect(api.requests().filter((r) => r.t > haltedAfter + 60)).toEqual([]);
    const stats = api.stats();
    expect(stats.byMethod.PATCH ?? 0).toBe(counts.applied);
    expect(stats.byMethod.GET).toBeGreaterThanOrEqual(counts.applied + counts.failed);
    expect(stats.byMethod.GET).toBeLessThanOrEqual(counts.applied + counts.failed + concurrency);
  });

  it('--auto-rollback restores what was applied before the halt', async () => {
    const { api, ids, originals, rows } = await failingFleet();
    const run = await stage(api, 'autorb', rows, { maxFailures: 4, autoRollback: true });
    const meta = await run.waitFor('autorb', (m) => m.autoRollbackId !== undefined && m.autoRollbackId !== 'creating');
    const rollback = await run.waitFor(meta.autoRollbackId!, ended);
    await run.stop();
    expect(rollback.status).toBe('completed');
    expect((await run.store.getBatch('autorb'))!.status).toBe('cancelled');
    const applied = (await run.store.counts('autorb')).applied;
    expect(applied).toBeGreaterThan(0);
    expect((await run.store.counts(rollback.id)).restored).toBe(applied);
    for (const a of ids) expect(writable(api.agent(a.org_id, a.agent_id)!)).toEqual(writable(originals.get(agentKey(a.org_id, a.agent_id))!));
  });

  it('resume after a budget halt needs --override-budget or a higher budget', async () => {
    const { api, rows } = await failingFleet();
    const run = await stage(api, 'resume', rows, { maxFailures: 2 });
    await run.waitFor('resume', ended);
    await expect(resumeBatch(run.store, 'resume')).rejects.toThrow('was halted by its error budget');
    await expect(resumeBatch(run.store, 'resume', { maxFailures: 1 })).rejects.toThrow('was halted by its error budget');
    expect((await resumeBatch(run.store, 'resume', { overrideBudget: true })).status).toBe('running');
    const meta = await run.waitFor('resume', ended);
    await run.stop();
    expect(meta.status).toBe('completed_with_failures');
    expect(await run.store.counts('resume')).toMatchObject({ failed: 12, applied: 28, pending: 0 });
  });
});

describe('one change at a time per agent', () => {
  it('two running batches on the same agents never work on one agent at once', async () => {
    const api = await startMock({ agents: 12, latencyMs: 25, recordRequests: true });
    const ids = api.agentIds();
    const prefix = testPrefix('lease');
    const store = new BatchStore(redis, prefix);
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: 8 });
    const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency: 8, pollMs: 50 });
    await pool.start();
    await Promise.all([
      submitBatch({ store, file: manifest('lease-a.ndjson', ids.map((a) => ({ ...a, patch: { prompt_template: { $replace: { find: 'Role', with: 'Role A' } } } }))), manifestOptions: {}, batchId: 'lease-a', options: FAST }),
      submitBatch({ store, file: manifest('lease-b.ndjson', ids.map((a) => ({ ...a, patch: { prompt_template: { $replace: { find: 'Role', with: 'Role B' } } } }))), manifestOptions: {}, batchId: 'lease-b', options: FAST }),
    ]);
    for (let i = 0; i < 400; i++) {
      const [a, b] = await Promise.all([store.getBatch('lease-a'), store.getBatch('lease-b')]);
      if (a!.status === 'completed' && b!.status === 'completed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await pool.close(2000);
    client.close();
    for (const a of ids) {
      // Per agent: GET, PATCH of one batch, then GET, PATCH of the other — never two GETs in a row.
      const methods = api.requests().filter((r) => r.agentId === a.agent_id).map((r) => r.method);
      expect(methods).toEqual(['GET', 'PATCH', 'GET', 'PATCH']);
      // And both changes are there: the second batch worked on the first one's result.
      const prompt = String(api.agent(a.org_id, a.agent_id)!.prompt_template);
      expect(prompt.includes('Role A B') || prompt.includes('Role B A')).toBe(true);
    }
    expect(await redis.keys(`${prefix}:lease:*`)).toEqual([]);
  });
  it('a job waiting for another batch\'s lease sleeps until that lease is released, then runs at once (no polling)', async () => {
    const api = await startMock({ agents: 2, latencyMs: 5, recordRequests: true });
    const [held, free] = api.agentIds() as [{ org_id: string; agent_id: string }, { org_id: string; agent_id: string }];
    const prefix = testPrefix('lease-wake');
    const store = new BatchStore(redis, prefix);
    const heldKey = agentKey(held.org_id, held.agent_id);
    // Another batch is working on the first agent (its worker is elsewhere, slow).
    expect(await store.takeLease('elsewhere', heldKey, 60_000)).toBeUndefined();
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: 4 });
    const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency: 4, pollMs: 50 });
    await pool.start();
    try {
      await submitBatch({ store, file: manifest('lease-wake.ndjson', [held, free].map((a) => ({ ...a, patch: { name: 'Woken' } }))), manifestOptions: {}, batchId: 'lease-wake', options: FAST });
      const counts = async () => store.counts('lease-wake');
      for (let i = 0; i < 200 && (await counts()).applied !== 1; i++) await new Promise((r) => setTimeout(r, 25));
      // 2.5 s of waiting: the job took its turn once and sleeps — no GET of the agent, no re-check each second.
      await new Promise((r) => setTimeout(r, 2500));
      const queue = store.queue('lease-wake');
      const job = (await queue.getJob(jobId(heldKey)))!;
      expect(await job.getState()).toBe('delayed');
      expect(job.timestamp + job.delay - Date.now()).toBeGreaterThan(20_000);
      expect(job.attemptsMade).toBe(0);
      await queue.close();
      expect(api.requests().filter((r) => r.agentId === held.agent_id)).toEqual([]);
      expect((await counts()).pending).toBe(1);
      // The holder finishes: its release names the waiting batch, whose job runs now, not in 30 s.
      const released = Date.now();
      const waiters = await store.releaseLease('elsewhere', heldKey);
      expect(waiters).toEqual(['lease-wake']);
      await wakeJobs(store, heldKey, waiters);
      for (let i = 0; i < 200 && (await counts()).applied !== 2; i++) await new Promise((r) => setTimeout(r, 25));
      expect((await counts()).applied).toBe(2);
      expect(Date.now() - released).toBeLessThan(3000);
      expect(api.requests().filter((r) => r.agentId === held.agent_id).map((r) => r.method)).toEqual(['GET', 'PATCH']);
      expect(await redis.keys(`${prefix}:lease:*`)).toEqual([]);
    } finally {
      await pool.close(2000);
      client.close();
    }
  });
});

describe('maintenance windows, on the real clock', () => {
  const hhmmss = (t: number) => new Date(t).toISOString().slice(11, 19);
  /**
   * Requests that arrive after a boundary: at most the ones in flight (gated just inside it) may, and
   * only soon after — a count, not a tight clock bound, so a busy machine's late event loop passes.
   */
  const lateAfter = (times: number[], boundary: number, inFlight: number) => {
    const late = times.filter((t) => t >= boundary);
    expect(late.length, `${late.length} requests after the boundary`).toBeLessThanOrEqual(inFlight);
    expect(Math.max(0, ...late) - boundary).toBeLessThan(1000);
  };

  it('--start-at: the batch is scheduled, and no request comes before its start', async () => {
    const api = await startMock({ agents: 6, recordRequests: true });
    const startAt = Date.now() + 1500;
    const run = await stage(api, 'start-at', api.agentIds().map((a) => ({ ...a, patch: { name: 'Later' } })), { startAt });
    expect((await run.store.getBatch('start-at'))!.status).toBe('scheduled');
    const meta = await run.waitFor('start-at', ended);
    await run.stop();
    expect(meta.status).toBe('completed');
    expect(Math.min(...api.requests().map((r) => r.t))).toBeGreaterThanOrEqual(startAt);
  });

  it('--window: requests only inside it; the batch waits for the next opening when it closes', async () => {
    const api = await startMock({ agents: 40, latencyMs: 60, recordRequests: true });
    const opens = Math.ceil((Date.now() + 1500) / 1000) * 1000;
    const closes = opens + 2000;
    const window = `${hhmmss(opens)}-${hhmmss(closes)} UTC`;
    const run = await stage(api, 'window', api.agentIds().map((a) => ({ ...a, patch: { name: 'In the window' } })), { window, startAt: Date.now() }, 2);
    // 40 agents at ~2 × 60 ms each with 2 in flight take about 2.5 s: the window closes first.
    await new Promise((r) => setTimeout(r, closes - Date.now() + 1500));
    const meta = (await run.store.getBatch('window'))!;
    await run.stop();
    const times = api.requests().map((r) => r.t);
    expect(times.length).toBeGreaterThan(0);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(opens);
    lateAfter(times, closes, 2);
    expect(meta.status).toBe('waiting_window');
    expect((await run.store.counts('window')).pending).toBeGreaterThan(0);
    expect(meta.windowNext).toBe(opens + 86_400_000);
  });

  it('--deadline: past it, the agents not yet attempted are skipped and nothing more is sent', async () => {
    const api = await startMock({ agents: 40, latencyMs: 60, recordRequests: true });
    const deadline = Date.now() + 1200;
    const run = await stage(api, 'deadline', api.agentIds().map((a) => ({ ...a, patch: { name: 'Before the deadline' } })), { deadline }, 2);
    // Ended, and done skipping what the deadline cut.
    const meta = await run.waitFor('deadline', (m) => ended(m) && !m.deadlineSkipping);
    await run.stop();
    const counts = await run.store.counts('deadline');
    // Cut by its deadline: it says so (not a clean `completed`), and `retry --skipped` can finish it.
    expect(meta.status).toBe('cancelled');
    expect(meta.haltReason).toBe(`deadline_passed: ${new Date(deadline).toISOString()}; agents not yet tried were skipped`);
    expect(counts.skipped).toBeGreaterThan(0);
    expect(counts.applied + counts.skipped).toBe(40);
    lateAfter(api.requests().map((r) => r.t), deadline, 2);
  });
});

describe('verification and notifications', () => {
  it('--verify-cmd runs after each wave with the batch and wave in its environment; --notify posts each event once', async () => {
    const { events, url, close } = await hook<{ event: string; wave?: number; reason?: string; status: string; counts: Record<string, number> }>();
    const { mkdtempSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const log = `${mkdtempSync(`${tmpdir()}/nova-fleet-verify-`)}/verify.log`;
    const api = await startMock({ agents: 6 });
    const prefix = testPrefix('verify');
    const store = new BatchStore(redis, prefix);
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
    const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency: 4, pollMs: 50, runVerify: true });
    await pool.start();
    await submitBatch({
      store,
      file: manifest('verify.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Verified' } }))),
      manifestOptions: {},
      batchId: 'verify',
      options: FAST,
      controls: { waves: [2, 4, 6], verifyCmd: `echo "$NOVA_FLEET_BATCH wave $NOVA_FLEET_WAVE" >> ${log}`, notifyUrl: url },
    });
    // The completion event follows the status: wait for the event itself.
    for (let i = 0; i < 200 && !events.some((e) => e.event === 'completed'); i++) await new Promise((r) => setTimeout(r, 50));
    await pool.close(2000);
    client.close();
    close();
    expect((await store.getBatch('verify'))!.status).toBe('completed');
    expect(readFileSync(log, 'utf8')).toBe('verify wave 1\nverify wave 2\n');
    expect(events.map((e) => `${e.event}${e.wave ? ` ${e.wave}` : ''}`)).toEqual(['wave_done 1', 'wave_done 2', 'completed']);
  });

  it('a failing verification halts the batch, and --auto-rollback restores what was applied', async () => {
    const api = await startMock({ agents: 6 });
    const ids = api.agentIds();
    const originals = new Map(ids.map((a) => [a.agent_id, api.agent(a.org_id, a.agent_id)!]));
    const run = await stage(api, 'verify-fail', ids.map((a) => ({ ...a, patch: { name: 'Unverified' } })), { waves: [2, 6], verifyCmd: 'echo "calls are failing" >&2; exit 3', autoRollback: true });
    // stage() runs a pool without --run-verify: the batch waits at the gate rather than run the command.
    await new Promise((r) => setTimeout(r, 500));
    expect((await run.store.getBatch('verify-fail'))).toMatchObject({ status: 'running', wave: 0 });
    await run.stop();
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
    const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix: run.store.keys.prefix, client, concurrency: 4, pollMs: 50, runVerify: true });
    await pool.start();
    let meta = (await run.store.getBatch('verify-fail'))!;
    for (let i = 0; i < 200 && !(meta.autoRollbackId && meta.autoRollbackId !== 'creating' && (await run.store.getBatch(meta.autoRollbackId))!.status === 'completed'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      meta = (await run.store.getBatch('verify-fail'))!;
    }
    await pool.close(2000);
    client.close();
    expect(meta.haltReason).toBe('verify_failed: after wave 1, exit 3 (calls are failing)');
    expect(await run.store.counts(meta.autoRollbackId!)).toMatchObject({ restored: 2 });
    for (const a of ids) expect(api.agent(a.org_id, a.agent_id)!.name).toBe(originals.get(a.agent_id)!.name);
  });
});

describe('cancel and staged rollouts', () => {
  it('cancelling a batch with held waves skips their agents and leaves no held jobs behind', async () => {
    const api = await startMock({ agents: 6 });
    const run = await stage(api, 'cancel-waves', api.agentIds().map((a) => ({ ...a, patch: { name: 'Held' } })), { waves: [1, 6], approve: true });
    await run.waitFor('cancel-waves', (m) => m.status === 'waiting_approval');
    expect(await redis.llen(run.store.keys.held('cancel-waves', 1))).toBe(5);
    const { cancelBatch } = await import('../src/ops/actions.js');
    const { skipped } = await cancelBatch(run.store, 'cancel-waves');
    await run.stop();
    expect(skipped).toBe(5);
    expect(await redis.exists(run.store.keys.held('cancel-waves', 1))).toBe(0);
    expect(await run.store.counts('cancel-waves')).toMatchObject({ applied: 1, skipped: 5, pending: 0 });
  });
});

describe('--notify says every end', () => {
  it('a deadline that cuts the batch (agents skipped) posts a cancelled event saying so; so does `cancel`', async () => {
    // Issue 24 (7): a window closing with 181 of 300 agents skipped was silent.
    const { events, url, close } = await hook<{ event: string; wave?: number; reason?: string; status: string; counts: Record<string, number> }>();
    const api = await startMock({ agents: 12, latencyMs: 50 });
    const rows = api.agentIds().map((a) => ({ ...a, patch: { name: 'Cut' } }));
    const run = await stage(api, 'deadline-notify', rows, { deadline: Date.now() + 1500, notifyUrl: url }, 2, { ...FAST, rate: 4 });
    const meta = await run.waitFor('deadline-notify', (m) => m.status === 'cancelled' && m.deadlineSkipping !== true);
    for (let i = 0; i < 100 && !events.some((e) => e.event === 'cancelled'); i++) await new Promise((r) => setTimeout(r, 50));
    const counts = await run.store.counts('deadline-notify');
    expect(meta.status).toBe('cancelled');
    expect(counts.skipped).toBeGreaterThan(0);
    const cut = events.find((e) => e.event === 'cancelled')!;
    expect(cut.reason).toMatch(/^deadline_passed: \d+ agents? not yet tried were skipped$/);
    expect(cut.status).toBe('cancelled');

    await submitBatch({ store: run.store, file: manifest('cancel-notify.ndjson', rows), manifestOptions: {}, batchId: 'cancel-notify', options: { ...FAST, rate: 1 }, controls: { notifyUrl: url, startAt: Date.now() + 3_600_000 } });
    const { runCli } = await import('./helpers/cli.js');
    const cancelled = await runCli(['cancel', 'cancel-notify'], { REDIS_URL, NOVA_FLEET_PREFIX: run.prefix });
    expect(cancelled.code, cancelled.stderr).toBe(0);
    await run.stop();
    close();
    expect(events.filter((e) => e.event === 'cancelled').map((e) => e.reason)).toEqual([cut.reason, 'cancelled by an operator: 12 agents skipped']);
  }, 30_000);
});
