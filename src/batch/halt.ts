/**
 * Why a batch stopped, typed: a kind that code decides on, and a detail that people read. Stored in
 * Redis as the text `kind: detail` (as every earlier version wrote it), so a batch halted before this
 * type existed reads back with its kind. Pure.
 */
export const HALT_KINDS = ['error_budget', 'verify_failed', 'bad_credentials', 'api_unreachable', 'deadline_passed', 'imported', 'redis_full', 'other'] as const;
export type HaltKind = (typeof HALT_KINDS)[number];

export interface HaltReason {
  kind: HaltKind;
  detail: string;
}

/** Halts that are the infrastructure's, not the work's: `run` exits 3 for them (SPEC §6). */
export const INFRA_HALTS: ReadonlySet<HaltKind> = new Set(['bad_credentials', 'api_unreachable', 'redis_full']);
/** Halts a plain `resume` may lift (an error budget needs a higher one; verification, --override). */
export const GATE_HALTS: ReadonlySet<HaltKind> = new Set(['error_budget', 'verify_failed']);

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
