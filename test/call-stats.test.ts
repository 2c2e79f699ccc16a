/** The calls gate's statistics (batch/call-stats.ts) against values worked by hand and textbook examples. */
import { describe, expect, it } from 'vitest';
import { completionRate, dropTest, formatP, judgeWave, normalCdf, normalQuantile, wilsonInterval } from '../src/batch/call-stats.js';

const rule = { maxDrop: 0.05, confidence: 0.95, minCalls: 100 };

describe('the normal distribution', () => {
  it('has the textbook values', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 7);
    expect(normalCdf(-2.326347874040841)).toBeCloseTo(0.01, 7);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 6);
    expect(normalQuantile(0.95)).toBeCloseTo(1.6448536269514722, 6);
    expect(normalQuantile(0.005)).toBeCloseTo(-2.5758293035489004, 6);
    expect(() => normalQuantile(1)).toThrow(RangeError);
    expect(() => normalQuantile(0)).toThrow('a quantile needs 0 < p < 1, got 0');
    expect(normalCdf(Infinity)).toBe(1);
    expect(normalCdf(-Infinity)).toBe(0);
    expect(formatP(0.0001)).toBe('= 0.00010');
    expect(formatP(0.00009)).toBe('< 0.0001');
  });
});

describe('a cohort', () => {
  it('its rate, and the Wilson interval of 81 in 263 at 95% (0.2553, 0.3662)', () => {
    expect(completionRate({ calls: 263, completed: 81 })).toBeCloseTo(0.30798, 5);
    const interval = wilsonInterval({ calls: 263, completed: 81 }, 0.95)!;
    expect(interval.low).toBeCloseTo(0.25529, 4);
    expect(interval.high).toBeCloseTo(0.36621, 4);
  });

  it('zero calls: no rate, no interval; all completed: an interval that ends at 1 and is not a point', () => {
    expect(completionRate({ calls: 0, completed: 0 })).toBeUndefined();
    expect(wilsonInterval({ calls: 0, completed: 0 }, 0.95)).toBeUndefined();
    const all = wilsonInterval({ calls: 20, completed: 20 }, 0.95)!;
    expect(all.high).toBe(1);
    expect(all.low).toBeCloseTo(0.8389, 3);
  });
});

describe('the two-proportion test', () => {
  it('equal proportions (pooled): 550 of 1000 vs 520 of 1000 → z 1.3449, one-sided p 0.0893', () => {
    const test = dropTest({ calls: 1000, completed: 520 }, { calls: 1000, completed: 550 }, 0)!;
    expect(test.drop).toBeCloseTo(0.03, 10);
    expect(test.z).toBeCloseTo(1.34494, 4);
    expect(test.pValue).toBeCloseTo(0.08932, 4);
  });

  it('with a margin (unpooled, Agresti–Caffo): 0.9 vs 0.6 of 1000 beyond 5 points → z 13.729; 0.90 vs 0.87 of 300 is inside it', () => {
    const big = dropTest({ calls: 1000, completed: 600 }, { calls: 1000, completed: 900 }, 0.05)!;
    expect(big.drop).toBeCloseTo(0.3, 10);
    expect(big.z).toBeCloseTo(13.7287, 3);
    expect(big.pValue).toBeLessThan(1e-9);
    const within = dropTest({ calls: 300, completed: 261 }, { calls: 300, completed: 270 }, 0.05)!;
    expect(within.drop).toBeCloseTo(0.03, 10);
    expect(within.z).toBeCloseTo(-0.77147, 4); // a 3-point drop is inside a 5-point margin
    expect(within.pValue).toBeCloseTo(0.77979, 4);
  });

  it('every call of both cohorts completed: no drop, nothing to fear; none of the treated completed against all of the control: certain', () => {
    const same = dropTest({ calls: 50, completed: 50 }, { calls: 50, completed: 50 }, 0.05)!;
    expect(same.drop).toBe(0);
    expect(same.pValue).toBeGreaterThan(0.9);
    const pooled = dropTest({ calls: 50, completed: 50 }, { calls: 50, completed: 50 }, 0)!;
    expect(pooled.z).toBe(0);
    expect(pooled.pValue).toBeCloseTo(0.5, 6);
    const worst = dropTest({ calls: 50, completed: 0 }, { calls: 50, completed: 50 }, 0.05)!;
    expect(worst.z).toBeCloseTo(33.8439, 3);
    expect(worst.pValue).toBeLessThan(1e-12);
    expect(dropTest({ calls: 0, completed: 0 }, { calls: 50, completed: 40 }, 0.05)).toBeUndefined();
    expect(dropTest({ calls: 50, completed: 40 }, { calls: 0, completed: 0 }, 0.05)).toBeUndefined();
  });
});

describe('a wave judged', () => {
  it('0.9 → 0.6 with enough calls is degraded, and says so with the figures', () => {
    const judged = judgeWave({ calls: 200, completed: 120 }, { calls: 400, completed: 360 }, rule);
    expect(judged.verdict).toBe('degraded');
    expect(judged.why).toMatch(/60\.0% changed vs 90\.0% control.*30\.0 points, more than 5\.0 allowed \(p < 0\.0001\)$/);
    expect(judged.treated.interval!.high).toBeLessThan(judged.control.interval!.low);
  });

  it('a harmless change passes; a drop the test cannot tell from chance passes', () => {
    expect(judgeWave({ calls: 300, completed: 271 }, { calls: 600, completed: 540 }, rule).verdict).toBe('pass');
    // 8 points lower, but on 100 calls against 100: not sure at 95%
    const unsure = judgeWave({ calls: 100, completed: 82 }, { calls: 100, completed: 90 }, rule);
    expect(unsure.test!.drop).toBeCloseTo(0.08, 10);
    expect(unsure.verdict).toBe('pass');
    expect(unsure.why).toMatch(/no drop beyond 5\.0 points shown at 95\.0% confidence \(p = 0\.28\)$/);
  });

  it('tiny cohorts and no calls at all are inconclusive, never a pass', () => {
    expect(judgeWave({ calls: 99, completed: 10 }, { calls: 1000, completed: 900 }, rule).verdict).toBe('inconclusive');
    expect(judgeWave({ calls: 1000, completed: 500 }, { calls: 99, completed: 99 }, rule).verdict).toBe('inconclusive');
    const none = judgeWave({ calls: 0, completed: 0 }, { calls: 200, completed: 180 }, rule);
    expect('rate' in none.treated || 'interval' in none.treated).toBe(false);
    expect(none.control).toMatchObject({ rate: 0.9 });
    expect(judgeWave({ calls: 0, completed: 0 }, { calls: 0, completed: 0 }, rule)).toMatchObject({ verdict: 'inconclusive', why: expect.stringMatching(/too few calls/) });
    // One failed call against one completed one shows nothing (p 0.23): the plain Wald test called it certain.
    const one = judgeWave({ calls: 1, completed: 0 }, { calls: 1, completed: 1 }, { ...rule, minCalls: 1 });
    expect(one.verdict).toBe('pass');
    expect(one.test!.pValue).toBeCloseTo(0.23083, 4);
  });
});
