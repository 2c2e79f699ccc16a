/**
 * The staged-rollout controls of `submit`/`run` (SPEC §9), parsed and resolved — pure.
 *
 * - waves: cumulative targets `1,5%,25%,100%` → absolute agent counts for a batch of N agents;
 * - durations: `30s`, `10m`, `1h`, `500ms` → milliseconds (bake time);
 * - error budget: `N` agents or `P%` of the batch's agents (as AWS SSM's MaxErrors): the batch halts
 *   when more than that many agents have failed.
 */

export type WaveSpec = { kind: 'count'; n: number } | { kind: 'percent'; p: number };
export type BudgetSpec = WaveSpec;

function parseTarget(text: string, what: string): WaveSpec {
  const trimmed = text.trim();
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(trimmed);
  if (percent) {
    const p = Number(percent[1]);
    if (p <= 0 || p > 100) throw new RangeError(`${what}: "${trimmed}" must be above 0% and at most 100%`);
    return { kind: 'percent', p };
  }
  if (/^\d+$/.test(trimmed) && Number(trimmed) > 0) return { kind: 'count', n: Number(trimmed) };
  throw new RangeError(`${what}: "${trimmed}" is neither a number of agents (5) nor a percentage (25%)`);
}

export function parseWaves(text: string): WaveSpec[] {
  const parts = text.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) throw new RangeError('--waves: give cumulative targets such as 1,5%,25%,100%');
  return parts.map((p) => parseTarget(p, '--waves'));
}

function resolve(spec: WaveSpec, total: number): number {
  return spec.kind === 'count' ? Math.min(spec.n, total) : Math.ceil((spec.p / 100) * total);
}

/**
 * Absolute cumulative targets for `total` agents: strictly increasing, the last one `total` (a final
 * 100% wave is added when the list stops short — every agent is in some wave). Waves that would add
 * nobody (5% of 10 agents after 1) are merged.
 */
export function resolveWaves(specs: readonly WaveSpec[], total: number): number[] {
  const targets: number[] = [];
  let previous = 0;
  for (const spec of specs) {
    const target = resolve(spec, total);
    if (target < previous) throw new RangeError(`--waves: targets are cumulative and must not go down (${target} after ${previous})`);
    if (target > previous) targets.push(target);
    previous = target;
  }
  if (previous < total) targets.push(total);
  return targets;
}

export function parseBudget(text: string): BudgetSpec {
  const trimmed = text.trim();
  if (trimmed === '0') return { kind: 'count', n: 0 };
  return parseTarget(trimmed, '--max-failures');
}

/** Failures allowed: the batch halts when more than this many agents have failed. */
export function resolveBudget(spec: BudgetSpec, total: number): number {
  return spec.kind === 'count' ? spec.n : Math.floor((spec.p / 100) * total);
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) throw new RangeError(`"${text}" is not a duration such as 30s, 10m or 1h`);
  return Math.round(Number(match[1]) * UNITS[match[2]!]!);
}

/** The wave (0-based) of the agent at 0-based position `index` of the manifest. */
export function waveOf(index: number, targets: readonly number[]): number {
  const wave = targets.findIndex((target) => index < target);
  return wave === -1 ? targets.length - 1 : wave;
}
