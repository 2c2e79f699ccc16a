/**
 * Waves judged by the calls (issue 27, SPEC §14), end to end: `run` against the mock with simulated
 * calls. A prompt that lowers the completion rate from 0.9 to 0.6 halts after its first wave of a
 * 10%,100% rollout and every changed agent is restored when `run` returns; a harmless change passes
 * every wave (the last one judged before/after) and the batch completes only then.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../src/cli/run.js';
import { createOutput } from '../src/cli/output.js';
import { storedAnalyses } from '../src/controller/calls-gate.js';
import type { MockApi } from '../src/mock/server.js';
import { BatchStore } from '../src/store/batch-store.js';
import { engineFixtures } from './helpers/engine.js';
import { capture } from './helpers/capture.js';
import { startMock } from './helpers/mock.js';
import { testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('calls-gate');
const saved = { ...process.env };
const never = new Promise<never>(() => {});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(() => {
  process.env.REDIS_URL = process.env.NOVA_FLEET_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
});
afterAll(() => {
  process.env = saved;
});

function useEnv(api: MockApi, prefix: string) {
  process.env.NOVA_API_URL = api.url;
  process.env.NOVA_API_KEY = api.apiKey;
  process.env.NOVA_FLEET_PREFIX = prefix;
}

/** 40 agents in 2 orgs taking ~50 calls a second each (100 ms calls), the calls of the last 2 s there. */
async function fleetWithCalls(): Promise<MockApi> {
  const api = await startMock({ agents: 40, orgs: 2, callsPerMin: 3000, callMs: 100, badMarker: 'HANG UP' });
  await sleep(2200); // calls before any change: the last wave's before/after needs them
  return api;
}

const GATED = { rate: 100, concurrency: 8, waves: [{ kind: 'percent' as const, p: 10 }, { kind: 'percent' as const, p: 100 }], gate: 'calls' as const, bake: 1500, minCalls: 100, gateTimeout: 10_000 };

describe('--gate calls', () => {
  it('a prompt that makes callers hang up is halted at its first wave and undone; run exits 1', async () => {
    const api = await fleetWithCalls();
    const prefix = testPrefix('gate-bad');
    useEnv(api, prefix);
    const ids = api.agentIds();
    const originals = new Map(ids.map((a) => [a.agent_id, api.agent(a.org_id, a.agent_id)!.prompt_template]));
    const file = manifest('bad.ndjson', ids.map((a) => ({ ...a, patch: { prompt_template: 'You are brisk. HANG UP when the caller hesitates.' } })));
    const sink = capture();
    const code = await runCommand(file, { ...GATED, autoRollback: true }, createOutput(true, sink.stream, sink.stream), never);
    expect(code).toBe(1);
    const store = new BatchStore(redis, prefix);
    const [batchId] = await store.listBatchIds();
    const meta = (await store.getBatch(batchId!))!;
    expect(meta.haltReason).toMatch(/^calls_degraded: wave 1: completion \d+\.\d% changed vs \d+\.\d% control/);
    expect(meta.wave).toBe(0); // wave 2 was never released
    const [first] = await storedAnalyses(store, batchId!);
    expect(first).toMatchObject({ wave: 0, mode: 'control', verdict: 'degraded' });
    expect(first!.treated.rate!).toBeLessThan(0.75);
    expect(first!.control.rate!).toBeGreaterThan(0.82);
    expect(first!.treated.calls).toBeGreaterThanOrEqual(100);
    expect(first!.requests).toBeGreaterThanOrEqual(2); // one org at least a page each
    // Only wave 1's 4 agents were ever changed, and each is back as it was.
    const patched = Object.keys(api.stats({ perAgent: true }).appliedPerAgent ?? {});
    expect(patched.length).toBe(4);
    for (const a of ids) expect(api.agent(a.org_id, a.agent_id)!.prompt_template).toEqual(originals.get(a.agent_id));
    expect(sink.text()).toMatch(/the changed agents complete fewer calls — rolling back what was applied/);
  }, 60_000);

  it('a harmless change passes both waves — the last judged against the agents’ own calls before it — and only then completes', async () => {
    const api = await fleetWithCalls();
    const prefix = testPrefix('gate-good');
    useEnv(api, prefix);
    const ids = api.agentIds();
    const file = manifest('good.ndjson', ids.map((a) => ({ ...a, patch: { prompt_template: 'You are warm and patient with every caller.' } })));
    const sink = capture();
    const code = await runCommand(file, GATED, createOutput(true, sink.stream, sink.stream), never);
    expect(code).toBe(0);
    const store = new BatchStore(redis, prefix);
    const [batchId] = await store.listBatchIds();
    const meta = (await store.getBatch(batchId!))!;
    expect(meta.status).toBe('completed');
    expect(meta.holdCompletion).toBeUndefined();
    const analyses = await storedAnalyses(store, batchId!);
    expect(analyses.map((a) => [a.wave, a.mode, a.verdict])).toEqual([[0, 'control', 'pass'], [1, 'before_after', 'pass']]);
    // The batch ended after its last judgement, not when its last agent did.
    expect(meta.finishedAt!).toBeGreaterThanOrEqual(analyses[1]!.at);
    for (const a of ids) expect(api.agent(a.org_id, a.agent_id)!.prompt_template).toBe('You are warm and patient with every caller.');
  }, 60_000);
});
