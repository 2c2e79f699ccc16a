/**
 * Defects that live between two correct steps (issue 24): each test forces the bad order by holding a
 * mock request until the test has made the other step happen, then checks what the operator finds.
 * The commands run in this process (so the mock's hold can be used), against a real Redis and the real
 * HTTP stack.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../src/api/types.js';
import { runCommand } from '../src/cli/run.js';
import { createOutput } from '../src/cli/output.js';
import { stepBatch } from '../src/controller/controller.js';
import type { MockApi } from '../src/mock/server.js';
import { BatchStore } from '../src/store/batch-store.js';
import { ENDED, engineFixtures, runToEnd, startBatch, workToEnd } from './helpers/engine.js';
import { capture } from './helpers/capture.js';
import { gate, until } from './helpers/hold.js';
import { clientFor, startMock } from './helpers/mock.js';
import { testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('interleavings');
const saved = { ...process.env };
const never = new Promise<never>(() => {});

/** An Output whose words are kept for the test to read. */
function captured() {
  const sink = capture();
  return { out: createOutput(false, sink.stream, sink.stream), text: sink.text };
}

/** The environment a command of this process reads: this mock, this Redis, this prefix. */
function useEnv(api: MockApi, prefix: string) {
  process.env.NOVA_API_URL = api.url;
  process.env.NOVA_API_KEY = api.apiKey;
  process.env.NOVA_FLEET_PREFIX = prefix;
}

/** A mock whose `method` replies for one agent (named by `aim`) are replaced by `reply(that agent as it is)`. */
async function tampering(method: 'GET' | 'PATCH', reply: (agent: Agent) => unknown, orgs = 1) {
  let aimed = '';
  const api: MockApi = await startMock({
    agents: 2,
    orgs,
    intercept: (request) => (request.method === method && request.agentId === aimed ? { status: 200, body: reply(api.agent(request.orgId, request.agentId)!) } : undefined),
  });
  return { api, aim: (agentId: string) => void (aimed = agentId) };
}

beforeAll(() => {
  process.env.REDIS_URL = process.env.NOVA_FLEET_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
});
afterAll(() => {
  process.env = saved;
});

describe('run --auto-rollback', () => {
  it('works the rollback even when another worker created it (cancelling the origin) before run read the end', async () => {
    // The bad order of defect 1: the error budget halts the batch; while `run` closes its worker (one
    // GET still held), another worker's controller step creates the automatic rollback — which cancels
    // the origin. `run` then reads `cancelled`, not `halted`. It must still work the rollback.
    const held = gate();
    let heldAgent: string | undefined;
    const api = await startMock({
      agents: 24,
      orgs: 2,
      intercept: async (request) => {
        if (request.method === 'GET' && request.agentId === heldAgent) await held.wait();
      },
    });
    const ids = api.agentIds();
    const originals = new Map(ids.map((a) => [a.agent_id, api.agent(a.org_id, a.agent_id)!]));
    // The third row (not an org's first, which the preflight reads) is held; the last six fail at PATCH.
    heldAgent = ids[2]!.agent_id;
    const failing = ids.slice(-6).map((a) => a.agent_id);
    api.configure({ patchStatus: Object.fromEntries(failing.map((id) => [id, 422])) });
    const prefix = testPrefix('autorb');
    useEnv(api, prefix);
    const store = new BatchStore(redis, prefix);
    const file = manifest('autorb.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Renamed · Grüße ✓' } })));
    const { out, text } = captured();

    const running = runCommand(file, { rate: 10, concurrency: 4, maxFailures: { kind: 'count', n: 3 }, autoRollback: true, attempts: 1 }, out, never);
    // The budget halts the batch while the held GET is still out; "another worker" steps its controller.
    // Halted — or already past it: run's own pool may create the rollback (cancelling the origin) between
    // two looks of this loop on a loaded machine; the rollback's id marks the halt then.
    const batchId = await until(async () => {
      for (const id of await store.listBatchIds()) {
        const meta = await store.getBatch(id);
        if (meta?.kind === 'rollout' && (meta.status === 'halted' || meta.autoRollbackId !== undefined)) return id;
      }
      return undefined;
    }, 'the error budget to halt the batch');
    await held.arrival;
    await stepBatch(store, batchId); // may find the lock taken by run's own pool, mid-creation: then it is that one
    const origin = await until(async () => {
      const meta = (await store.getBatch(batchId))!;
      return meta.autoRollbackId && meta.autoRollbackId !== 'creating' ? meta : undefined;
    }, 'the automatic rollback to be created');
    expect(origin.status).toBe('cancelled');
    expect(origin.autoRollbackId).toMatch(/-rollback-/);
    held.open();

    const code = await running;
    expect(code, text()).toBe(1);
    // What the operator finds when `run` returns: every agent the batch changed is back as it was.
    const changedByBatch = ids.filter((a) => api.stats({ perAgent: true }).appliedPerAgent?.[`${a.org_id}/${a.agent_id}`]);
    expect(changedByBatch.length).toBeGreaterThan(0);
    for (const a of ids) expect(api.agent(a.org_id, a.agent_id)!.name, a.agent_id).toBe((originals.get(a.agent_id) as Agent).name);
    const rollback = (await store.getBatch(origin.autoRollbackId!))!;
    expect(rollback.status).toBe('completed');
    expect((await store.counts(rollback.id)).restored).toBe(changedByBatch.length);
    expect(text()).toContain(`rolling back what was applied (batch ${rollback.id})`);
  }, 60_000);
});

describe('every failure ends in an attempt spent, a halt, or success', () => {
  it('a PATCH that times out after its GET was answered spends an attempt: --attempts 2 sends 2 PATCHes, then the agent fails', async () => {
    // Defect 9: the PATCH failed more than 5 s after the batch's last recorded success, so it counted
    // as "the API is down" and gave its attempt back; the next round's GET succeeded and reset the
    // outage clock — neither --attempts nor --outage-halt ever fired.
    let patches = 0;
    const api = await startMock({
      agents: 1,
      orgs: 1,
      intercept: async (request) => {
        if (request.method !== 'PATCH') return;
        patches++;
        // Past the client's 5.5 s, and never applied: a write that hangs.
        await new Promise((resolve) => setTimeout(resolve, 6_500));
        return { status: 504, body: { detail: 'upstream timed out' } };
      },
    });
    const prefix = testPrefix('hang');
    const file = manifest('hang.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Never lands' } })));
    const run = await startBatch(api, prefix, file, 'hang', { rate: 10, attempts: 2, backoffMs: 20, backoffCapMs: 50 }, { timeoutMs: 5_500 });
    const deadline = Date.now() + 40_000;
    let meta = await run.store.getBatch('hang');
    while (meta && !ENDED.includes(meta.status) && patches <= 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      meta = await run.store.getBatch('hang');
    }
    await run.stop();
    expect(patches).toBe(2);
    expect(meta!.status).toBe('completed_with_failures');
    const record = await run.store.agentRecord('hang', `${api.agentIds()[0]!.org_id}/${api.agentIds()[0]!.agent_id}`);
    expect(record?.status).toBe('failed');
    expect(record?.error).toMatch(/time/i);
  }, 60_000);
});

describe('a reply is checked to be the agent asked for', () => {
  it('a GET answered with another org’s agent is never recorded nor written back: retried, then the agent fails, no PATCH sent', async () => {
    // Defect 10: the other agent was recorded as the before snapshot and its settings PATCHed into the
    // agent asked for.
    let wrong: Agent | undefined;
    let patches = 0;
    let asked = '';
    const api = await startMock({
      agents: 2,
      orgs: 2,
      intercept: (request) => {
        if (request.method === 'PATCH') patches++;
        if (request.method === 'GET' && request.agentId === asked) return { status: 200, body: wrong };
        return undefined;
      },
    });
    const [a, b] = api.agentIds();
    asked = a!.agent_id;
    wrong = api.agent(b!.org_id, b!.agent_id)!;
    const prefix = testPrefix('other');
    const file = manifest('other.ndjson', [{ ...a, patch: { llm_config: { temperature: 0.1 } } }]);
    const { store, meta } = await runToEnd(api, prefix, file, 'other', { rate: 100, attempts: 2, backoffMs: 20, backoffCapMs: 50 });
    expect(meta.status).toBe('completed_with_failures');
    expect(patches).toBe(0);
    const record = (await store.agentRecord('other', `${a!.org_id}/${a!.agent_id}`))!;
    expect(record.status).toBe('failed');
    expect(record.error).toContain(`the reply is for agent ${b!.agent_id}, not ${a!.agent_id}`);
    expect(record.before).toBeUndefined();
  }, 30_000);

  it('a reply carrying the right id under another organization_id is refused too', async () => {
    const { api, aim } = await tampering('GET', (agent) => ({ ...agent, organization_id: 'someone-else' }), 2);
    const [a] = api.agentIds();
    aim(a!.agent_id);
    const file = manifest('other-org.ndjson', [{ ...a, patch: { name: 'Mine' } }]);
    const { store } = await runToEnd(api, testPrefix('other-org'), file, 'other-org', { rate: 100, attempts: 1, backoffMs: 20, backoffCapMs: 50 });
    const record = (await store.agentRecord('other-org', `${a!.org_id}/${a!.agent_id}`))!;
    expect(record.status).toBe('failed');
    expect(record.error).toContain('for an agent of org someone-else');
    expect(api.agent(a!.org_id, a!.agent_id)!.name).not.toBe('Mine');
  }, 30_000);
});

describe('--auth auto under load', () => {
  it('a request sent with X-API-Key before its org’s scheme was learned, refused after, is asked again with the learned scheme', async () => {
    // Defect 2: the 401 came back after another request had learned Bearer; it was not asked again,
    // counted as a refusal, and three such blocked a healthy org.
    const held = gate();
    let keyed = 0;
    const api = await startMock({
      agents: 4,
      orgs: 1,
      authScheme: 'bearer',
      intercept: async (request) => {
        if (request.headers['x-api-key'] !== undefined && ++keyed === 2) await held.wait();
      },
    });
    const client = clientFor(api);
    const [a, b] = api.agentIds();
    const first = client.getAgent(a!.org_id, a!.agent_id);
    const second = client.getAgent(b!.org_id, b!.agent_id);
    await held.arrival; // the second request went out with X-API-Key, before any scheme was known
    const settled = await Promise.race([first, second.then(() => 'second')]);
    expect(settled).not.toBe('second');
    expect(client.knownSchemes()).toEqual({ [a!.org_id]: 'bearer' });
    held.open(); // only now is the second one refused
    expect((await second).id).toBe(b!.agent_id);
  });
});

describe('failures at PATCH time', () => {
  it('a 200 reply that drops one of the sent fields is not_applied — one field is enough', async () => {
    // Issue 24 (7): not_applied seemed to need two fields missing. A server that takes the PATCH but
    // keeps one field as it was (a read-only rule, a silently ignored key) is caught on one field.
    const { api, aim } = await tampering('PATCH', (agent) => ({ ...agent, name: 'Taken' })); // goodbye_config left as it was
    const [a, b] = api.agentIds();
    aim(a!.agent_id);
    const patch = { name: 'Taken', goodbye_config: { message: 'Tschüss 👋' } };
    const { store, counts } = await runToEnd(api, testPrefix('not-applied'), manifest('not-applied.ndjson', [{ ...a, patch }, { ...b, patch }]), 'not-applied', { rate: 100, attempts: 1, backoffMs: 20, backoffCapMs: 50 });
    expect(counts).toMatchObject({ failed: 1, applied: 1 });
    const record = (await store.agentRecord('not-applied', `${a!.org_id}/${a!.agent_id}`))!;
    expect(record.error).toBe('not_applied: the reply does not carry goodbye_config');
    // The other agent's reply carried the non-ASCII value exactly.
    expect((api.agent(b!.org_id, b!.agent_id)!.goodbye_config as { message: string }).message).toBe('Tschüss 👋');
  });

  it('a 422 at PATCH time (the GET succeeded) fails the agent at once with the server’s message, its before snapshot kept', async () => {
    const api = await startMock({ agents: 2, orgs: 1 });
    const [a, b] = api.agentIds();
    api.configure({ patchStatus: { [a!.agent_id]: 422 } });
    const { store, counts } = await runToEnd(api, testPrefix('patch-422'), manifest('patch-422.ndjson', [a, b].map((x) => ({ ...x, patch: { name: 'Refused at write' } }))), 'patch-422', { rate: 100, attempts: 3, backoffMs: 20, backoffCapMs: 50 });
    expect(counts).toMatchObject({ failed: 1, applied: 1 });
    const record = (await store.agentRecord('patch-422', `${a!.org_id}/${a!.agent_id}`))!;
    expect(record.attempts).toBe(1);
    expect(record.error).toContain(`422 Injected 422 for agent ${a!.agent_id}`);
    expect(record.before?.name).toBe(api.agent(a!.org_id, a!.agent_id)!.name);
    expect(api.stats().byMethodStatus).toMatchObject({ 'PATCH 422': 1, 'PATCH 200': 1, 'GET 200': 2 });
  });
});

describe('a mock no kinder than the API: non-ASCII text and unknown keys', () => {
  it('a merged object keeps the keys nova-fleet does not know; snapshots keep umlauts, CJK and emoji byte for byte; rollback restores them', async () => {
    const api = await startMock({ agents: 5, orgs: 1 });
    const ids = api.agentIds();
    const originals = new Map(ids.map((a) => [a.agent_id, api.agent(a.org_id, a.agent_id)!]));
    // The fleet is not ASCII, and its llm_config holds a key the field catalogue does not know.
    expect([...originals.values()].some((a) => /[^\x00-\x7f]/.test(String(a.name)))).toBe(true);
    expect((originals.get(ids[0]!.agent_id)!.llm_config as Record<string, unknown>).vendor_routing).toBeDefined();
    const prefix = testPrefix('non-ascii');
    const file = manifest('non-ascii.ndjson', ids.map((a) => ({ ...a, patch: { 'llm_config': { temperature: 0.15 }, name: `${String(originals.get(a.agent_id)!.name)} — geprüft ✓` } })));
    const { store, counts } = await runToEnd(api, prefix, file, 'non-ascii');
    expect(counts.applied).toBe(5);
    for (const a of ids) {
      const now = api.agent(a.org_id, a.agent_id)!;
      const was = originals.get(a.agent_id)!;
      expect(now.llm_config).toEqual({ ...(was.llm_config as object), temperature: 0.15 });
      const record = (await store.agentRecord('non-ascii', `${a.org_id}/${a.agent_id}`))!;
      // Decoded as UTF-8, not latin1: the snapshots equal the agents exactly.
      expect(record.before).toEqual(was);
      expect(record.after!.name).toBe(`${String(was.name)} — geprüft ✓`);
      expect(record.after!.prompt_template).toBe(was.prompt_template);
    }
    const { createRollback } = await import('../src/ops/create-rollback.js');
    const { meta } = await createRollback({ store, originId: 'non-ascii' });
    const undone = await workToEnd(api, prefix, meta.id);
    expect(undone.counts.restored).toBe(5);
    for (const a of ids) expect(api.agent(a.org_id, a.agent_id)).toEqual({ ...originals.get(a.agent_id)!, updated_at: api.agent(a.org_id, a.agent_id)!.updated_at });
  });
});
