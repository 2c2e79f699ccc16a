/**
 * A batch's metadata hash, both ways, from one table: each BatchMeta property names its Redis field and
 * how its text is read and written. Reading is forgiving (a field another version did not write is
 * simply absent) and strict where a wrong value would act (ids, numbers, environment names).
 */
import { BATCH_STATUSES, type BatchStatus } from '../batch/lifecycle.js';
import { ENV_NAME } from '../names.js';
import type { BatchMeta, BatchOptions, CallsGate } from '../batch/records.js';

type Codec<T> = { read: (text: string) => T | undefined; write: (value: T) => string | number | undefined };

const text: Codec<string> = { read: (t) => t || undefined, write: (v) => v || undefined };
const number: Codec<number> = { read: (t) => (t === '' || !Number.isFinite(Number(t)) ? undefined : Number(t)), write: (v) => v };
const flag: Codec<boolean> = { read: (t) => (t === '1' ? true : undefined), write: (v) => (v ? '1' : undefined) };
const json = <T>(): Codec<T> => ({
  read: (t) => {
    if (!t) return undefined;
    try {
      return JSON.parse(t) as T;
    } catch {
      return undefined;
    }
  },
  write: (v) => JSON.stringify(v),
});
/** A calls gate as stored: every number checked, so a hand-edited field cannot make the gate lenient by accident. */
const gate: Codec<CallsGate> = {
  read: (t) => {
    const value = json<Partial<CallsGate>>().read(t);
    const numbers = value && [value.maxDrop, value.confidence, value.minCalls, value.timeoutMs, value.maxPages];
    if (!value || value.kind !== 'calls' || !numbers!.every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0)) return undefined;
    return value as CallsGate;
  },
  write: (v) => JSON.stringify(v),
};
const names: Codec<string[]> = { read: (t) => (t ? t.split(',').filter((n) => ENV_NAME.test(n)) : undefined), write: (v) => (v.length ? v.join(',') : undefined) };

/** BatchMeta property → Redis field and codec (the properties read specially are below the table). */
const FIELDS: { [K in keyof BatchMeta]?: [field: string, codec: Codec<NonNullable<BatchMeta[K]>>] } = {
  id: ['id', text],
  manifest: ['manifest', text],
  digest: ['digest', text],
  createdAt: ['created_at', number],
  total: ['total', number],
  settled: ['settled', number],
  finishedAt: ['finished_at', number],
  haltReason: ['halt_reason', text],
  rollbackOf: ['rollback_of', text],
  waves: ['waves', json<number[]>()],
  waveDoneAt: ['wave_done_at', number],
  bakeMs: ['bake_ms', number],
  approve: ['approve', flag],
  fourEyes: ['four_eyes', flag],
  submittedBy: ['submitted_by', text],
  maxFailures: ['max_failures', number],
  autoRollback: ['auto_rollback', flag],
  autoRollbackId: ['auto_rollback_id', text],
  rollbackId: ['rollback_id', text],
  startAt: ['start_at', number],
  window: ['window', text],
  deadline: ['deadline', number],
  windowNext: ['window_next', number],
  verifyCmd: ['verify_cmd', text],
  verifyEnv: ['verify_env', names],
  notifyUrl: ['notify_url', text],
  gate: ['gate', gate],
  holdCompletion: ['hold_completion', flag],
};

/** Fields only ever written by steps after creation (the table's write side skips them). */
const READ_ONLY = new Set<keyof BatchMeta>(['waveDoneAt', 'autoRollbackId', 'rollbackId', 'windowNext']);

export function decodeMeta(raw: Record<string, string>): BatchMeta | undefined {
  if (!raw.id || !raw.status) return undefined;
  const meta: Record<string, unknown> = {};
  for (const [prop, [field, codec]] of Object.entries(FIELDS) as Array<[keyof BatchMeta, [string, Codec<unknown>]]>) {
    const value = raw[field] === undefined ? undefined : codec.read(raw[field]);
    if (value !== undefined) meta[prop] = value;
  }
  const status = (BATCH_STATUSES as readonly string[]).includes(raw.status) ? (raw.status as BatchStatus) : raw.status;
  return {
    ...(meta as Partial<BatchMeta>),
    id: raw.id,
    kind: raw.kind === 'rollback' ? 'rollback' : 'rollout',
    manifest: raw.manifest ?? '',
    digest: raw.digest ?? '',
    createdAt: Number(raw.created_at),
    status: status as BatchStatus,
    total: Number(raw.total ?? 0),
    enqueued: raw.enqueued === '1',
    options: json<BatchOptions>().read(raw.options ?? '') ?? ({} as BatchOptions),
    // A rollback's --force, or a rollout's retry --force (later attempts overwrite edits since).
    ...(raw.force === '1' ? { force: true } : raw.rollback_of ? { force: false } : {}),
    ...(meta.waves ? { wave: Number(raw.wave ?? 0), approvedWave: Number(raw.approved_wave ?? -1) } : {}),
    ...(raw.deadline_passed === '1' ? { deadlineSkipping: true } : {}),
    ...prefixed(raw, 'blocked:', 'blockedOrgs'),
    ...prefixed(raw, 'auth:', 'authSchemes'),
  };
}

/** The fields `<prefix><org>` of the hash as one record under `name` (absent when there are none). */
function prefixed<N extends string>(raw: Record<string, string>, prefix: string, name: N): { [K in N]?: Record<string, string> } {
  const entries = Object.entries(raw).filter(([field]) => field.startsWith(prefix) && field.length > prefix.length);
  return entries.length > 0 ? ({ [name]: Object.fromEntries(entries.map(([field, value]) => [field.slice(prefix.length), value])) } as { [K in N]?: Record<string, string> }) : {};
}

export function encodeMeta(meta: BatchMeta): Record<string, string | number> {
  const out: Record<string, string | number> = { kind: meta.kind, status: meta.status, enqueued: meta.enqueued ? '1' : '0', options: JSON.stringify(meta.options) };
  for (const [prop, [field, codec]] of Object.entries(FIELDS) as Array<[keyof BatchMeta, [string, Codec<unknown>]]>) {
    const value = meta[prop];
    if (value === undefined || READ_ONLY.has(prop)) continue;
    const written = codec.write(value);
    if (written !== undefined) out[field] = written;
  }
  if (meta.rollbackOf) out.force = meta.force ? '1' : '0';
  for (const [org, scheme] of Object.entries(meta.authSchemes ?? {})) out[`auth:${org}`] = scheme;
  if (meta.waves) {
    out.wave = meta.wave ?? 0;
    out.approved_wave = meta.approvedWave ?? -1;
  }
  return out;
}

/** The properties a step may change after the batch was created. */
type Changeable = 'haltReason' | 'finishedAt' | 'maxFailures' | 'approvedWave' | 'force' | 'window' | 'windowNext' | 'deadline' | 'enqueued' | 'autoRollbackId' | 'rollbackId' | 'waveDoneAt' | 'wave' | 'holdCompletion';

/**
 * A change to a batch's metadata: the one way code outside the store names what it changes (the Redis
 * field names stay in this file). BatchMeta's changeable properties — null clears one — and the fields
 * of steps that BatchMeta shows otherwise.
 */
export type MetaChange = { [K in Changeable]?: NonNullable<BatchMeta[K]> | null } & {
  /** The key refusals counted toward the auth halt (0: the count starts again). */
  authFailures?: 0;
  /** The outage clock (null: stopped). */
  outageSince?: null;
  /** The deadline's cut: its agents all skipped (`done`), or none (null). */
  deadlinePassed?: 'done' | null;
};

const CHANGE_FIELDS = {
  haltReason: 'halt_reason',
  finishedAt: 'finished_at',
  maxFailures: 'max_failures',
  approvedWave: 'approved_wave',
  force: 'force',
  window: 'window',
  windowNext: 'window_next',
  deadline: 'deadline',
  enqueued: 'enqueued',
  autoRollbackId: 'auto_rollback_id',
  rollbackId: 'rollback_id',
  waveDoneAt: 'wave_done_at',
  wave: 'wave',
  holdCompletion: 'hold_completion',
  authFailures: 'auth_failures',
  outageSince: 'outage_since',
  deadlinePassed: 'deadline_passed',
} as const satisfies Record<keyof MetaChange, string>;

/** A change as the hash's fields: null → '' (cleared), a flag → '1'/'0'. Pure. */
export function encodeChange(change: MetaChange): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [prop, value] of Object.entries(change) as Array<[keyof MetaChange, string | number | boolean | null | undefined]>) {
    if (value === undefined) continue;
    out[CHANGE_FIELDS[prop]] = value === null ? '' : typeof value === 'boolean' ? (value ? '1' : '0') : value;
  }
  return out;
}
