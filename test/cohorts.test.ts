/** Which calls judge a wave (batch/cohorts.ts): treated after each change, control in the same interval, before/after in the last wave. */
import { describe, expect, it } from 'vitest';
import { buildCohorts, callsIntervals } from '../src/batch/cohorts.js';

const T0 = Date.parse('2026-12-04T10:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const call = (agent: string, s: number, status = 'completed') => ({ orgId: 'o1', row: { id: `${agent}-${s}`, initial_agent_id: agent, status, started_at: at(s), ended_at: at(s + 1) } });

describe('the cohorts of a wave', () => {
  const input = { changedAt: new Map([['o1/a', T0 + 10_000], ['o1/b', T0 + 20_000]]), unchanged: new Set(['o1/c', 'o1/d']), from: T0 + 30_000, to: T0 + 90_000 };

  it('treated: the changed agents’ calls in the interval; control: the unchanged agents’ in the same interval', () => {
    const cohorts = buildCohorts(input, [
      call('a', 40), call('a', 50, 'failed'), call('b', 60, 'no-answer'), call('b', 89),
      call('c', 31), call('c', 45, 'busy'), call('d', 70),
      call('a', 25), // after a's change but before the interval: not judged
      call('c', 95), // after the interval
      call('e', 50), // an agent of the org the batch does not hold
    ]);
    expect(cohorts).toEqual({ mode: 'control', treated: { calls: 4, completed: 2 }, control: { calls: 3, completed: 2 }, outside: 3, inProgress: 0, unreadable: 0 });
    expect(callsIntervals(input)).toEqual([{ from: input.from, to: input.to }]);
  });

  it('calls still going are not counted; rows without an agent, a status or a start are counted apart', () => {
    const cohorts = buildCohorts(input, [
      call('a', 40, 'in-progress'),
      { orgId: 'o1', row: { id: 'x1', status: 'completed', started_at: at(40) } },
      { orgId: 'o1', row: { id: 'x2', initial_agent_id: 'a', started_at: at(40) } },
      { orgId: 'o1', row: { id: 'x3', initial_agent_id: 'a', status: 'completed', started_at: 'soon' } },
      call('d', 40),
    ]);
    expect(cohorts).toMatchObject({ treated: { calls: 0 }, control: { calls: 1, completed: 1 }, inProgress: 1, unreadable: 3 });
  });

  it('edges: the interval includes its start and not its end; a change’s own instant is after it; ringing and queued are still going', () => {
    const at0 = { changedAt: new Map([['o1/a', T0 + 30_000]]), unchanged: new Set(['o1/c']), from: T0 + 30_000, to: T0 + 90_000 };
    expect(buildCohorts(at0, [call('a', 30), call('a', 90), call('c', 30), call('c', 90), call('c', 29)])).toMatchObject({ treated: { calls: 1 }, control: { calls: 1 }, outside: 3 });
    expect(buildCohorts(at0, [call('a', 40, 'ringing'), call('c', 40, 'queued')])).toMatchObject({ treated: { calls: 0 }, control: { calls: 0 }, inProgress: 2 });
    // A start time that is not text is unreadable, not a date.
    expect(buildCohorts(at0, [{ orgId: 'o1', row: { id: 'n', initial_agent_id: 'a', status: 'completed', started_at: T0 + 40_000 as unknown as string } }])).toMatchObject({ unreadable: 1 });
    // Before/after: the "before" is exactly one interval long, up to the change (not including it); an
    // agent the batch did not change is in neither cohort.
    const last = { changedAt: new Map([['o1/a', T0 + 100_000]]), unchanged: new Set<string>(), from: T0 + 120_000, to: T0 + 180_000 };
    expect(buildCohorts(last, [call('a', 40), call('a', 39), call('a', 99), call('a', 100), call('z', 50), call('z', 130)])).toMatchObject({ treated: { calls: 0 }, control: { calls: 2 }, outside: 4 });
  });

  it('the same agent id in another org is another agent', () => {
    const cohorts = buildCohorts(input, [{ ...call('a', 40), orgId: 'o2' }, call('a', 41)]);
    expect(cohorts).toMatchObject({ treated: { calls: 1 }, outside: 1 });
  });

  it('the last wave, no agent left unchanged: each agent after its change against itself in as long an interval just before it', () => {
    const last = { changedAt: new Map([['o1/a', T0 + 100_000], ['o1/b', T0 + 110_000]]), unchanged: new Set<string>(), from: T0 + 120_000, to: T0 + 180_000 };
    // Read apart: one interval (60 s) before each change, overlapping ones merged, and the judged interval.
    expect(callsIntervals(last)).toEqual([{ from: T0 + 40_000, to: T0 + 110_000 }, { from: T0 + 120_000, to: T0 + 180_000 }]);
    // Waves far apart: each one's "before" read on its own, not the hours between.
    // (Listed out of order: the changes are sorted first.)
    const apart = { ...last, changedAt: new Map([['o1/c', T0 + 3_600_000], ['o1/b', T0 + 100_500], ['o1/a', T0 + 100_000]]), from: T0 + 3_700_000, to: T0 + 3_760_000 };
    expect(callsIntervals(apart)).toEqual([{ from: T0 + 40_000, to: T0 + 100_500 }, { from: T0 + 3_540_000, to: T0 + 3_600_000 }, { from: T0 + 3_700_000, to: T0 + 3_760_000 }]);
    // Two that just touch (one ends where the next starts) are read as one.
    const touching = { ...last, changedAt: new Map([['o1/a', T0 + 100_000], ['o1/b', T0 + 160_000]]), from: T0 + 200_000, to: T0 + 260_000 };
    expect(callsIntervals(touching)).toEqual([{ from: T0 + 40_000, to: T0 + 160_000 }, { from: T0 + 200_000, to: T0 + 260_000 }]);
    const cohorts = buildCohorts(last, [
      call('a', 130), call('b', 150, 'failed'), // after: treated
      call('a', 45), call('a', 99, 'busy'), call('b', 51), // before each change, within 60 s of it: control
      call('a', 35), // more than 60 s before a's change
      call('a', 105), // after a's change, before the interval
    ]);
    expect(cohorts).toEqual({ mode: 'before_after', treated: { calls: 2, completed: 1 }, control: { calls: 3, completed: 2 }, outside: 2, inProgress: 0, unreadable: 0 });
  });
});
