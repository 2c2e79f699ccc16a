/**
 * Why a batch stopped, typed: a kind that code decides on, and a detail that people read. Stored in
 * Redis as the text `kind: detail` (as every earlier version wrote it), so a batch halted before this
 * type existed reads back with its kind. Pure.
 */
export const HALT_KINDS = ['error_budget', 'verify_failed', 'calls_degraded', 'analysis_inconclusive', 'bad_credentials', 'api_unreachable', 'deadline_passed', 'imported', 'redis_full', 'other'] as const;
export type HaltKind = (typeof HALT_KINDS)[number];

export interface HaltReason {
  kind: HaltKind;
  detail: string;
}

/**
 * What each halt means, in one table (a new kind is a row here and its detector):
 *   - `infra`: the infrastructure's, not the work's — `run` exits 3 (SPEC §6);
 *   - `gate`: a gate of a staged rollout (the error budget, a failed verification) — `--auto-rollback`
 *     undoes what was applied;
 *   - `resume`: how `resume` lifts it — `plain` (once the key, the API or Redis is fixed), `budget`
 *     (with `--override-budget` or a budget above the failures so far), `gate` (with
 *     `--override-gate`: the operator goes on past the calls gate on purpose), or `refused` (roll back
 *     or cancel instead; a cut or imported batch is over);
 *   - `says`: the halt in the operator's words (`run`'s note when an automatic rollback starts).
 */
export interface HaltRule {
  infra: boolean;
  gate: boolean;
  resume: 'plain' | 'budget' | 'gate' | 'refused';
  says: string;
}

export const HALT_POLICY: Readonly<Record<HaltKind, HaltRule>> = {
  error_budget: { infra: false, gate: true, resume: 'budget', says: 'error budget exceeded' },
  verify_failed: { infra: false, gate: true, resume: 'refused', says: 'verification failed' },
  calls_degraded: { infra: false, gate: true, resume: 'gate', says: 'the changed agents complete fewer calls' },
  // Too few calls is no evidence of harm: the batch stops for a person, nothing is undone by itself.
  analysis_inconclusive: { infra: false, gate: false, resume: 'gate', says: 'too few calls to judge the wave' },
  bad_credentials: { infra: true, gate: false, resume: 'plain', says: 'the API refused a key' },
  api_unreachable: { infra: true, gate: false, resume: 'plain', says: 'the API is unreachable' },
  redis_full: { infra: true, gate: false, resume: 'plain', says: 'Redis is full' },
  deadline_passed: { infra: false, gate: false, resume: 'refused', says: 'the deadline passed' },
  imported: { infra: false, gate: false, resume: 'refused', says: 'imported' },
  other: { infra: false, gate: false, resume: 'refused', says: 'halted' },
};

/** The rule of a batch's halt (or cut); undefined if it has none. */
export function haltRule(meta: { haltReason?: string | undefined }): HaltRule | undefined {
  const kind = haltKind(meta);
  return kind === undefined ? undefined : HALT_POLICY[kind];
}

const kindsWhere = (rule: 'infra' | 'gate'): ReadonlySet<HaltKind> => new Set(HALT_KINDS.filter((kind) => HALT_POLICY[kind][rule]));
/** Halts that are the infrastructure's, not the work's: `run` exits 3, a plain `resume` lifts them. */
export const INFRA_HALTS = kindsWhere('infra');
/** Halts of a rollout's gates: `--auto-rollback` acts on them. */
export const GATE_HALTS = kindsWhere('gate');

export function formatHalt(reason: HaltReason): string {
  return reason.kind === 'other' ? reason.detail : `${reason.kind}: ${reason.detail}`;
}

/** The stored text back to a reason; text of an unknown kind (hand-written, another version) is `other`. */
export function parseHalt(text: string): HaltReason {
  const match = /^([a-z_]+): ?([\s\S]*)$/.exec(text);
  const kind = match?.[1] as HaltKind | undefined;
  if (match && kind !== undefined && kind !== 'other' && (HALT_KINDS as readonly string[]).includes(kind)) return { kind, detail: match[2]! };
  return { kind: 'other', detail: text };
}

/** The kind of a batch's halt (or cut), read from its stored reason; undefined if it has none. */
export function haltKind(meta: { haltReason?: string | undefined }): HaltKind | undefined {
  return meta.haltReason ? parseHalt(meta.haltReason).kind : undefined;
}

export function halt(kind: Exclude<HaltKind, 'other'>, detail: string): string {
  return formatHalt({ kind, detail });
}
