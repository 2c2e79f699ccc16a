/**
 * A wave's judgement by its calls (SPEC §14) as it is kept with the batch and shown everywhere: the
 * interval, both cohorts with their rates and intervals, the test, the verdict and what it cost.
 * Stored as JSON per wave; read back as untrusted (another version, a hand edit). Pure.
 */
import * as z from 'zod';
import type { CallsGate } from './records.js';
import type { DropTest, Judgement, Verdict } from './call-stats.js';
import type { Cohorts } from './cohorts.js';

export interface WaveAnalysis extends Omit<Judgement, 'verdict'> {
  /** 0-based wave. */
  wave: number;
  /** When it was judged (Redis clock, ms). */
  at: number;
  interval: { from: number; to: number };
  mode: Cohorts['mode'];
  /** `overridden`: an operator went on past a failed or inconclusive judgement (`resume --override-gate`). */
  verdict: Verdict | 'overridden';
  calls: { read: number; outside: number; inProgress: number; unreadable: number; unplaced: number };
  /** List requests spent reading the calls. */
  requests: number;
  /** Orgs whose calls had more pages than the gate reads (`--gate-max-pages`): judged on the first pages. */
  truncated: string[];
  rule: Omit<CallsGate, 'kind'>;
}

const cohort = z.object({
  calls: z.number().int().nonnegative(),
  completed: z.number().int().nonnegative(),
  rate: z.number().optional(),
  interval: z.object({ low: z.number(), high: z.number() }).optional(),
});

const SCHEMA = z.object({
  wave: z.number().int().nonnegative(),
  at: z.number(),
  interval: z.object({ from: z.number(), to: z.number() }),
  mode: z.enum(['control', 'before_after']),
  verdict: z.enum(['pass', 'degraded', 'inconclusive', 'overridden']),
  why: z.string().max(2000),
  treated: cohort,
  control: cohort,
  test: z.object({ drop: z.number(), z: z.number().nullable(), pValue: z.number() }).optional(),
  calls: z.object({ read: z.number(), outside: z.number(), inProgress: z.number(), unreadable: z.number(), unplaced: z.number() }),
  requests: z.number().int().nonnegative(),
  truncated: z.array(z.string().max(200)).max(1000),
  rule: z.object({ maxDrop: z.number(), confidence: z.number(), minCalls: z.number(), timeoutMs: z.number(), maxPages: z.number() }),
});

/** As JSON: an infinite z (a certain drop) is written as null, and read back as such. */
export function encodeAnalysis(analysis: WaveAnalysis): string {
  return JSON.stringify(analysis, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value));
}

/** A stored judgement read back; undefined if it is not one (never trusted blindly: it gates a rollout). */
export function decodeAnalysis(json: string): WaveAnalysis | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const parsed = SCHEMA.safeParse(value);
  if (!parsed.success) return undefined;
  const { test, ...rest } = parsed.data;
  return { ...rest, ...(test ? { test: { ...test, z: test.z ?? Infinity } as DropTest } : {}) } as WaveAnalysis;
}
