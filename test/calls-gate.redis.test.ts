/**
 * Waves judged by the calls (issue 27, SPEC §14), end to end: `run` against the mock with simulated
 * calls. A prompt that lowers the completion rate from 0.9 to 0.6 halts after its first wave of a
 * 10%,100% rollout and every changed agent is restored when `run` returns; a harmless change passes
 * every wave (the last one judged before/after) and the batch completes only then.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { runCommand } from '../src/cli/run.js';
import { statusCommand } from '../src/cli/status.js';
import { analyzeCommand } from '../src/cli/analyze.js';
import { reportCommand } from '../src/cli/report.js';
import { resumeCommand } from '../src/cli/actions.js';
import { createOutput } from '../src/cli/output.js';
import { storedAnalyses } from '../src/controller/calls-gate.js';
import type { MockApi } from '../src/mock/server.js';
import { BatchStore } from '../src/store/batch-store.js';
import { engineFixtures } from './helpers/engine.js';
import { capture } from './helpers/capture.js';
import { startMock } from './helpers/mock.js';
import { testPrefix } from './helpers/redis.js';

const { manifest, redis, dir } = engineFixtures('calls-gate');
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

    // Shown where an operator looks: status, analyze, report --format json.
    const status = capture();
    await statusCommand(batchId!, {}, createOutput(false, status.stream, status.stream));
    expect(status.text()).toMatch(/gate {6}calls: completion may drop 5\.0 points at most \(95% confidence, ≥ 100 calls a cohort\)\n {4}wave 1: degraded — changed \d+\.\d% \[\d+\.\d%–\d+\.\d%\] of \d+, control \d+\.\d% \[/);
    const kept = capture();
    expect(await analyzeCommand(batchId!, { kept: true }, createOutput(true, kept.stream, kept.stream))).toBe(0);
    const analysis = JSON.parse(kept.text()) as { gate: { maxDrop: number }; waves: Array<{ verdict: string; treated: { calls: number } }>; now?: unknown };
    expect(analysis.gate.maxDrop).toBe(0.05);
    expect(analysis.waves).toHaveLength(1);
    expect(analysis.waves[0]).toMatchObject({ verdict: 'degraded', treated: { calls: first!.treated.calls } });
    expect(analysis.now).toBeUndefined();
    const out = `${dir}/report.json`;
    await reportCommand(batchId!, { format: 'json', out }, createOutput(false, capture().stream, capture().stream));
    const report = JSON.parse(readFileSync(out, 'utf8')) as { analysis: Array<{ verdict: string }>; agents: unknown[] };
    expect(report.analysis.map((a) => a.verdict)).toEqual(['degraded']);
    expect(report.agents).toHaveLength(40);
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

    // A judgement made now, after the fact: every agent changed, so each against its own calls before.
    await sleep(600);
    const now = capture();
    const notes = capture();
    expect(await analyzeCommand(batchId!, { rate: 500 }, createOutput(true, now.stream, notes.stream))).toBe(0);
    expect(notes.text()).toMatch(/^analyze: reading the calls of batch .* at up to 500 requests\/s/);
    const judged = JSON.parse(now.text()) as { waves: unknown[]; now: { mode: string; verdict: string; requests: number } };
    expect(judged.waves).toHaveLength(2);
    expect(judged.now).toMatchObject({ mode: 'before_after', verdict: 'pass' });
    expect(judged.now.requests).toBeGreaterThan(1);
  }, 60_000);

  it('too few calls: the bake is extended to the gate timeout, then analysis_inconclusive halts — nothing undone, even with --auto-rollback; resume --override-gate goes on', async () => {
    const api = await startMock({ agents: 10, orgs: 1, callsPerMin: 30, callMs: 100 });
    const prefix = testPrefix('gate-few');
    useEnv(api, prefix);
    const ids = api.agentIds();
    const file = manifest('few.ndjson', ids.map((a) => ({ ...a, patch: { prompt_template: 'Quiet hours.' } })));
    const started = Date.now();
    const code = await runCommand(file, { ...GATED, bake: 1000, gateTimeout: 3000, autoRollback: true }, createOutput(true, capture().stream, capture().stream), never);
    expect(code).toBe(1);
    const store = new BatchStore(redis, prefix);
    const [batchId] = await store.listBatchIds();
    const meta = (await store.getBatch(batchId!))!;
    expect(meta.status).toBe('halted');
    expect(meta.haltReason).toMatch(/^analysis_inconclusive: wave 1: too few calls to judge: \d+ changed, \d+ control \(at least 100 each\), still after [3-9] s$/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000); // judged again until the timeout, not halted at the first look
    expect(meta.autoRollbackId).toBeUndefined();
    const analyses = await storedAnalyses(store, batchId!);
    expect(analyses.map((a) => a.verdict)).toEqual(['inconclusive']);
    // A plain resume is refused, naming the way on; --override-gate goes on past the wave.
    const refused = await resumeCommand(batchId!, {}, createOutput(true, capture().stream, capture().stream)).catch((error: unknown) => error);
    expect(refused).toMatchObject({ exitCode: 2, message: expect.stringMatching(/halted by its calls gate/), hint: expect.stringMatching(/--override-gate/) });
    await resumeCommand(batchId!, { overrideGate: true }, createOutput(true, capture().stream, capture().stream));
    expect((await storedAnalyses(store, batchId!))[0]).toMatchObject({ verdict: 'overridden', why: expect.stringMatching(/^overridden by resume --override-gate \(was inconclusive: too few calls/) });
    // The first wave is passed on purpose; the next (the last) is judged on its own and times out as well.
    expect(await runCommand(file, { ...GATED, bake: 1000, gateTimeout: 2000 }, createOutput(true, capture().stream, capture().stream), never)).toBe(1);
    const after = (await store.getBatch(batchId!))!;
    expect(after.wave).toBe(1);
    expect(after.haltReason).toMatch(/^analysis_inconclusive: wave 2: /);
    expect(Object.keys(api.stats({ perAgent: true }).appliedPerAgent ?? {})).toHaveLength(10);
  }, 60_000);
});
