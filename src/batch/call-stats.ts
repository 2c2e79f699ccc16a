/**
 * The statistics of a calls gate (SPEC §14), pure: a cohort's completion rate with its Wilson score
 * interval, and the one-sided two-proportion test of "the changed agents complete fewer calls than the
 * control by more than --max-drop". The normal distribution is simple-statistics' (its error function,
 * accurate to ~1e-7); its quantile is refined here, since its `probit` is ~3e-3 off in the tails.
 */
import { errorFunction, probit } from 'simple-statistics';

/** Calls of one cohort in the interval judged, and how many of them completed. */
export interface Cohort {
  calls: number;
  completed: number;
}

export function normalCdf(z: number): number {
  if (z === Infinity) return 1;
  if (z === -Infinity) return 0;
  return 0.5 * (1 + errorFunction(z / Math.SQRT2));
}

/** The standard normal quantile: `probit`, then two Newton steps on the CDF. */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`a quantile needs 0 < p < 1, got ${p}`);
  let z = probit(p);
  for (let i = 0; i < 2; i++) z -= (normalCdf(z) - p) / (Math.exp((-z * z) / 2) / Math.sqrt(2 * Math.PI));
  return z;
}

/** The completion rate; undefined without calls. */
export function completionRate(cohort: Cohort): number | undefined {
  return cohort.calls > 0 ? cohort.completed / cohort.calls : undefined;
}

/**
 * The Wilson score interval of the rate at `confidence` (two-sided): unlike the plain ±z·SE interval it
 * stays inside [0, 1] and is honest for small cohorts and rates near 0 or 1. Undefined without calls.
 */
export function wilsonInterval(cohort: Cohort, confidence: number): { low: number; high: number } | undefined {
  const { calls: n, completed } = cohort;
  if (n <= 0) return undefined;
  const z = normalQuantile(1 - (1 - confidence) / 2);
  const p = completed / n;
  const denominator = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denominator;
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

export interface DropTest {
  /** Control rate minus treated rate (positive: the changed agents complete fewer calls). */
  drop: number;
  z: number;
  /** One-sided: the chance of a drop this large if the true drop were no more than the margin. */
  pValue: number;
}

/**
 * H0: control − treated ≤ `margin`; H1: control − treated > `margin`. With no margin it is the textbook
 * test of equal proportions (pooled standard error). With one, the two rates differ under H0, so each
 * cohort keeps its own variance — estimated after Agresti and Caffo (one completed and one failed call
 * added to each cohort), because the plain Wald estimate has no variance at 0% or 100% and would call
 * one failed call against one completed one a certain drop. `drop` is the cohorts' observed difference.
 * Undefined if either cohort has no calls.
 */
export function dropTest(treated: Cohort, control: Cohort, margin: number): DropTest | undefined {
  const pt = completionRate(treated);
  const pc = completionRate(control);
  if (pt === undefined || pc === undefined) return undefined;
  const drop = pc - pt;
  if (margin === 0) {
    const pooled = (treated.completed + control.completed) / (treated.calls + control.calls);
    const se = Math.sqrt(pooled * (1 - pooled) * (1 / treated.calls + 1 / control.calls));
    // No variance at all (every call of both completed, or none): no drop can be told from chance.
    const z = se > 0 ? drop / se : 0;
    return { drop, z, pValue: 1 - normalCdf(z) };
  }
  const adjusted = (cohort: Cohort) => ({ p: (cohort.completed + 1) / (cohort.calls + 2), n: cohort.calls + 2 });
  const t = adjusted(treated);
  const c = adjusted(control);
  const z = (c.p - t.p - margin) / Math.sqrt((c.p * (1 - c.p)) / c.n + (t.p * (1 - t.p)) / t.n);
  return { drop, z, pValue: 1 - normalCdf(z) };
}

export interface GateRule {
  /** The largest drop in completion rate tolerated (a fraction: 0.05 is 5 percentage points). */
  maxDrop: number;
  /** How sure the test must be before it calls a drop (0.95). */
  confidence: number;
  /** Fewer calls than this in either cohort is too few to judge. */
  minCalls: number;
}

export type Verdict = 'pass' | 'degraded' | 'inconclusive';

export interface Judgement {
  verdict: Verdict;
  treated: Cohort & { rate?: number; interval?: { low: number; high: number } };
  control: Cohort & { rate?: number; interval?: { low: number; high: number } };
  test?: DropTest;
  /** In words, for the halt reason and `analyze`. */
  why: string;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** A p-value as people read one: two figures, and "< 0.0001" rather than 0.0 or 1e-20. */
export function formatP(p: number): string {
  return p < 0.0001 ? '< 0.0001' : `= ${p.toPrecision(2)}`;
}

/**
 * A wave judged: `degraded` when the drop is beyond `maxDrop` and the test is sure of it at
 * `confidence`; `inconclusive` when either cohort has fewer than `minCalls` calls; else `pass` — a
 * drop the test cannot tell from chance, or one within the margin, lets the rollout go on.
 */
export function judgeWave(treated: Cohort, control: Cohort, rule: GateRule): Judgement {
  const describe = (cohort: Cohort) => {
    const rate = completionRate(cohort);
    const interval = wilsonInterval(cohort, rule.confidence);
    return { ...cohort, ...(rate !== undefined ? { rate } : {}), ...(interval ? { interval } : {}) };
  };
  const base = { treated: describe(treated), control: describe(control) };
  if (treated.calls < rule.minCalls || control.calls < rule.minCalls) {
    return { ...base, verdict: 'inconclusive', why: `too few calls to judge: ${treated.calls} changed, ${control.calls} control (at least ${rule.minCalls} each)` };
  }
  const test = dropTest(treated, control, rule.maxDrop)!;
  const rates = `completion ${pct(base.treated.rate!)} changed vs ${pct(base.control.rate!)} control (${treated.calls} and ${control.calls} calls)`;
  if (test.drop > rule.maxDrop && test.pValue < 1 - rule.confidence) {
    return { ...base, test, verdict: 'degraded', why: `${rates}: a drop of ${(test.drop * 100).toFixed(1)} points, more than ${(rule.maxDrop * 100).toFixed(1)} allowed (p ${formatP(test.pValue)})` };
  }
  return { ...base, test, verdict: 'pass', why: `${rates}: no drop beyond ${(rule.maxDrop * 100).toFixed(1)} points shown at ${pct(rule.confidence)} confidence (p ${formatP(test.pValue)})` };
}
