/**
 * The calls gate's power and false alarms (issue 27): seeded runs of a first wave judged by the product's
 * own cohort and judgement code (batch/cohorts.ts, batch/call-stats.ts) on the mock's call model
 * (mock/calls.ts), in simulated time — a 10-minute bake takes no 10 minutes. The peer is the gate every
 * rollout had before: the error budget, which sees no failure when every PATCH succeeds.
 */
import { buildCohorts, callsIntervals } from '../src/batch/cohorts.js';
import { judgeWave } from '../src/batch/call-stats.js';
import { GATE_DEFAULTS } from '../src/batch/controls.js';
import { CallSimulator } from '../src/mock/calls.js';
import type { BenchRow } from './engine.js';

interface Scenario {
  agents: number;
  orgs: number;
  callsPerMin: number;
  bakeMin: number;
  /** Completion rate of a changed agent's calls (0.9 = harmless). */
  changedRate: number;
}

const RULE = { maxDrop: GATE_DEFAULTS.maxDropPoints / 100, confidence: GATE_DEFAULTS.confidence, minCalls: GATE_DEFAULTS.minCalls };

/** One seeded first wave (10% of the agents) judged after its bake: the verdict and the list requests it took. */
function judgeOnce(s: Scenario, seed: number): { verdict: string; requests: number; treated: number } {
  const t0 = Date.parse('2026-12-01T10:00:00Z');
  const sim = new CallSimulator({ callsPerMin: s.callsPerMin, badMarker: 'CHANGED', goodRate: 0.9, badRate: s.changedRate, callMs: 1000, seed }, t0);
  const agents = Array.from({ length: s.agents }, (_, i) => ({ org: `org${i % s.orgs}`, id: `agent${i}`, name: `Agent ${i}` }));
  for (const a of agents) sim.noteConfig(`${a.org}/${a.id}`, { id: a.id, prompt: 'as before' }, t0);
  const changeAt = t0 + 20 * 60_000;
  const changed = agents.slice(0, Math.ceil(s.agents / 10));
  for (const a of changed) sim.noteConfig(`${a.org}/${a.id}`, { id: a.id, prompt: 'CHANGED' }, changeAt);
  const input = { changedAt: new Map(changed.map((a) => [`${a.org}/${a.id}`, changeAt])), unchanged: new Set(agents.slice(changed.length).map((a) => `${a.org}/${a.id}`)), from: changeAt, to: changeAt + s.bakeMin * 60_000 };
  let treated = { calls: 0, completed: 0 };
  let control = { calls: 0, completed: 0 };
  let requests = 0;
  for (let o = 0; o < s.orgs; o++) {
    const orgAgents = agents.filter((a) => a.org === `org${o}`).map((a) => ({ key: `${a.org}/${a.id}`, id: a.id, name: a.name }));
    for (const interval of callsIntervals(input)) {
      const rows = sim.calls(orgAgents, interval.from, interval.to, input.to + 60_000);
      requests += Math.max(1, Math.ceil(rows.length / 100));
      const cohorts = buildCohorts(input, rows.map((row) => ({ orgId: `org${o}`, row })));
      treated = { calls: treated.calls + cohorts.treated.calls, completed: treated.completed + cohorts.treated.completed };
      control = { calls: control.calls + cohorts.control.calls, completed: control.completed + cohorts.control.completed };
    }
  }
  return { verdict: judgeWave(treated, control, RULE).verdict, requests, treated: treated.calls };
}

export async function benchGate(log: (line: string) => void, runs = 20): Promise<BenchRow[]> {
  const base: Omit<Scenario, 'changedRate'> = { agents: 1000, orgs: 3, callsPerMin: 1, bakeMin: 10 };
  const small: Omit<Scenario, 'changedRate'> = { agents: 200, orgs: 2, callsPerMin: 1, bakeMin: 10 };
  const tally = (s: Scenario) => {
    const results = Array.from({ length: runs }, (_, seed) => judgeOnce(s, seed + 1));
    const count = (verdict: string) => results.filter((r) => r.verdict === verdict).length;
    return { degraded: count('degraded'), inconclusive: count('inconclusive'), requests: results.reduce((n, r) => n + r.requests, 0) / runs, treated: results.reduce((n, r) => n + r.treated, 0) / runs };
  };
  const label = (s: Omit<Scenario, 'changedRate'>) => `${s.agents.toLocaleString('en')} agents, ${s.callsPerMin} call/min each, ${s.bakeMin} min bake`;
  log(`gate: ${runs} seeded first waves per case (10% of the agents), judged as the controller does…`);
  const harmful = tally({ ...base, changedRate: 0.6 });
  const harmless = tally({ ...base, changedRate: 0.9 });
  const tenPoints = tally({ ...base, changedRate: 0.8 });
  const sevenPoints = tally({ ...base, changedRate: 0.83 });
  const smallHarmful = tally({ ...small, changedRate: 0.6 });
  log(`gate: harmful ${JSON.stringify(harmful)}, harmless ${JSON.stringify(harmless)}, 10 points ${JSON.stringify(tenPoints)}, 7 points ${JSON.stringify(sevenPoints)}, small fleet ${JSON.stringify(smallHarmful)}`);
  const waveRequests = Math.ceil(base.agents / 10) * 2; // the wave's own GET and PATCH per agent
  return [
    { what: `calls gate: bad prompt (0.9→0.6) halted at wave 1 — ${label(base)}`, figure: `${harmful.degraded}/${runs}`, peer: `0/${runs} (error budget: every PATCH succeeds)`, ratio: '—', target: `${runs}/${runs}` },
    { what: `calls gate: false alarms on a harmless change — ${label(base)}`, figure: `${harmless.degraded}/${runs}`, peer: `0/${runs} (error budget)`, ratio: '—', target: '≤ 1' },
    { what: `calls gate: a 10-point drop (0.9→0.8) halted at wave 1 — ${label(base)}`, figure: `${tenPoints.degraded}/${runs}`, peer: `0/${runs} (error budget)`, ratio: '—', target: '—' },
    { what: `calls gate: a 7-point drop (0.9→0.83, 2 beyond the 5 allowed) halted — ${label(base)}`, figure: `${sevenPoints.degraded}/${runs}`, peer: `0/${runs} (error budget)`, ratio: '—', target: '—' },
    { what: `calls gate: bad prompt halted — ${label(small)} (~${Math.round(smallHarmful.treated)} changed-agent calls)`, figure: `${smallHarmful.degraded}/${runs} (${smallHarmful.inconclusive} too few calls)`, peer: `0/${runs} (error budget)`, ratio: '—', target: '—' },
    { what: `calls gate: list requests per wave judged — ${label(base)}`, figure: harmful.requests.toFixed(0), peer: `${waveRequests} (the wave's own GET+PATCH)`, ratio: (harmful.requests / waveRequests).toFixed(2), target: '—' },
  ];
}
