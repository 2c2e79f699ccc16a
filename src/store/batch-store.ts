/**
 * Batch records in Redis: metadata, per-agent status/attempts/errors, before and after snapshots,
 * counters. The engine and the commands read and write batches only through this class.
 *
 * Snapshots: `before` is the agent as first read (set once, never overwritten); `after` is stored as
 * its difference from before (the fields that differ, and any that vanished), compressed against the
 * before's text (codec.ts). The two are mostly identical: the after costs little more than its changes.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Agent, Json } from '../api/types.js';
import { setOwn } from '../patch/merge.js';
import { pack, packAgainst, unpack, unpackAgainst, unpackText } from './codec.js';
import { Keys } from './keys.js';
import { scanKeys } from './connect.js';
import type { ScriptClient } from './scripts.js';

/** Per-agent statuses (SPEC §4); `restored` and `conflict` belong to rollbacks. */
export const AGENT_STATUSES = ['pending', 'applied', 'unchanged', 'failed', 'skipped', 'restored', 'conflict'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

/** Batch statuses (SPEC §9). */
export type BatchStatus =
  | 'scheduled'
  | 'waiting_window'
  | 'running'
  | 'paused'
  | 'waiting_approval'
  | 'halted'
  | 'cancelled'
  | 'completed'
  | 'completed_with_failures';

export const FINAL_BATCH_STATUSES: ReadonlySet<BatchStatus> = new Set(['cancelled', 'completed', 'completed_with_failures']);

export interface BatchOptions {
  /** API requests per second shared by every worker of the batch. */
  rate: number;
  /** Attempts per agent for retryable failures (BullMQ attempts). */
  attempts: number;
  /** First retry delay; doubles each attempt, with jitter, up to `backoffCapMs`. */
  backoffMs: number;
  backoffCapMs: number;
}

export interface BatchMeta {
  id: string;
  kind: 'rollout' | 'rollback';
  /** The manifest as given on the command line, and the SHA-256 of its bytes. */
  manifest: string;
  digest: string;
  createdAt: number;
  status: BatchStatus;
  /** Agents registered so far (all of them once `enqueued`). */
  total: number;
  /** True once every row of the manifest has been registered and enqueued. */
  enqueued: boolean;
  options: BatchOptions;
  finishedAt?: number;
  haltReason?: string;
  /** For a rollback: the batch it rolls back, and whether conflicts are overridden (`--force`). */
  rollbackOf?: string;
  force?: boolean;
  /** Staged rollout (SPEC §9): cumulative agent targets of the waves, and the current wave (0-based). */
  waves?: number[];
  wave?: number;
  /** When the current wave finished (Redis time, ms); the bake starts then. */
  waveDoneAt?: number;
  bakeMs?: number;
  /** Pause after each wave until `approve`; `approvedWave` is the last wave approved to move on from. */
  approve?: boolean;
  approvedWave?: number;
  /** Error budget: the batch halts when more than this many agents have failed. */
  maxFailures?: number;
  autoRollback?: boolean;
  /** The rollback started automatically after a halt. */
  autoRollbackId?: string;
  /** Maintenance window (SPEC §9): no request before `startAt`, only inside `window`, none after `deadline` (ms). */
  startAt?: number;
  window?: string;
  deadline?: number;
  /** When the window next opens or closes (for status). */
  windowNext?: number;
  /** Run after each wave; non-zero halts (hooks.ts). */
  verifyCmd?: string;
  /** POST a JSON event here on wave done, halt, completion. */
  notifyUrl?: string;
}

/** The staged-rollout controls a batch is created with. */
export type RolloutControls = Pick<BatchMeta, 'waves' | 'bakeMs' | 'approve' | 'maxFailures' | 'autoRollback' | 'startAt' | 'window' | 'deadline' | 'verifyCmd' | 'notifyUrl'>;

export type Counts = Record<AgentStatus, number>;

export interface AgentRecord {
  key: string;
  status: AgentStatus;
  attempts: number;
  error?: string;
  /** Top-level fields the batch changed (or, for unchanged, would have). */
  changed?: string[];
  before?: Agent;
  after?: Agent;
}

interface AfterDelta {
  set: Record<string, Json>;
  removed: string[];
}


export class BatchStore {
  readonly keys: Keys;

  constructor(
    readonly redis: ScriptClient,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  /** Creates the batch, or returns the existing one (the caller compares digests). */
  async createBatch(meta: BatchMeta): Promise<{ created: boolean; meta: BatchMeta }> {
    const key = this.keys.meta(meta.id);
    const created = (await this.redis.hsetnx(key, 'id', meta.id)) === 1;
    if (created) await this.redis.hset(key, serialiseMeta(meta));
    const stored = created ? meta : (await this.getBatch(meta.id))!;
    // Also when it existed: a create interrupted before these lines is completed by the next submit.
    // Listed as active even if final (an import): the first worker to look drops it again.
    await this.redis.zadd(this.keys.batches(), 'NX', meta.createdAt, meta.id);
    await this.markActive(meta.id, meta.createdAt);
    return { created, meta: stored };
  }

  /** Puts a batch (back) on the list workers poll. Call after its status is written (see dropIfFinal). */
  async markActive(batchId: string, createdAt: number): Promise<void> {
    await this.redis.zadd(this.keys.active(), 'NX', createdAt, batchId);
  }

  /**
   * Lists again every batch not final that the active list lacks (a worker starting up: a batch whose
   * create was cut short, or written by an older nova-fleet). One pass over the history, per start.
   */
  async relistActive(): Promise<void> {
    const ids = await this.redis.zrange(this.keys.batches(), '0', '-1', 'WITHSCORES');
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = ids.slice(i, i + 200);
      await Promise.all(
        Array.from({ length: chunk.length / 2 }, async (_, j) => {
          const [id, createdAt] = [chunk[2 * j]!, Number(chunk[2 * j + 1])];
          const status = await this.batchStatus(id);
          if (status !== undefined && !FINAL_BATCH_STATUSES.has(status)) await this.markActive(id, createdAt);
        }),
      );
    }
  }

  /** The batches workers poll, oldest first: every batch not yet seen final (and perhaps a few that are). */
  listActiveBatchIds(): Promise<string[]> {
    return this.redis.zrange(this.keys.active(), '0', '-1');
  }

  /**
   * Takes a batch found final (or gone) off the polled list. Removed first and its status read after,
   * while a reopen (retry) writes the status first and adds it after: whichever order they meet in,
   * a reopened batch stays listed (again under `createdAt`). Returns false if it was reopened meanwhile.
   */
  async dropIfFinal(batchId: string, createdAt: number): Promise<boolean> {
    await this.redis.zrem(this.keys.active(), batchId);
    const status = await this.batchStatus(batchId);
    if (status === undefined || FINAL_BATCH_STATUSES.has(status)) return true;
    await this.markActive(batchId, createdAt);
    return false;
  }

  async getBatch(id: string): Promise<BatchMeta | undefined> {
    const raw = await this.redis.hgetall(this.keys.meta(id));
    if (!raw.id || !raw.status) return undefined;
    return {
      id: raw.id,
      kind: (raw.kind as BatchMeta['kind']) ?? 'rollout',
      manifest: raw.manifest ?? '',
      digest: raw.digest ?? '',
      createdAt: Number(raw.created_at),
      status: raw.status as BatchStatus,
      total: Number(raw.total ?? 0),
      enqueued: raw.enqueued === '1',
      options: JSON.parse(raw.options ?? '{}') as BatchOptions,
      ...(raw.finished_at ? { finishedAt: Number(raw.finished_at) } : {}),
      ...(raw.halt_reason ? { haltReason: raw.halt_reason } : {}),
      ...(raw.rollback_of ? { rollbackOf: raw.rollback_of, force: raw.force === '1' } : {}),
      ...(raw.waves ? { waves: JSON.parse(raw.waves) as number[], wave: Number(raw.wave ?? 0), approvedWave: Number(raw.approved_wave ?? -1) } : {}),
      ...(raw.wave_done_at ? { waveDoneAt: Number(raw.wave_done_at) } : {}),
      ...(raw.bake_ms ? { bakeMs: Number(raw.bake_ms) } : {}),
      ...(raw.approve === '1' ? { approve: true } : {}),
      ...(raw.max_failures ? { maxFailures: Number(raw.max_failures) } : {}),
      ...(raw.auto_rollback === '1' ? { autoRollback: true } : {}),
      ...(raw.auto_rollback_id ? { autoRollbackId: raw.auto_rollback_id } : {}),
      ...(raw.start_at ? { startAt: Number(raw.start_at) } : {}),
      ...(raw.window ? { window: raw.window } : {}),
      ...(raw.deadline ? { deadline: Number(raw.deadline) } : {}),
      ...(raw.window_next ? { windowNext: Number(raw.window_next) } : {}),
      ...(raw.verify_cmd ? { verifyCmd: raw.verify_cmd } : {}),
      ...(raw.notify_url ? { notifyUrl: raw.notify_url } : {}),
    };
  }

  /** Just the status (the check before each request; the rest of the metadata is not needed there). */
  async batchStatus(batchId: string): Promise<BatchStatus | undefined> {
    return ((await this.redis.hget(this.keys.meta(batchId), 'status')) as BatchStatus | null) ?? undefined;
  }

  /** Batch ids, oldest first. */
  listBatchIds(): Promise<string[]> {
    return this.redis.zrange(this.keys.batches(), '0', '-1');
  }

  /** Registers agents as pending: per agent, `new`, still `pending` from an earlier submit, or `done`. */
  async register(batchId: string, agentKeys: string[]): Promise<Array<'new' | 'pending' | 'done'>> {
    if (agentKeys.length === 0) return [];
    const flags = await this.redis.nfRegister(this.keys.status(batchId), this.keys.counts(batchId), ...agentKeys);
    return flags.map((f) => (f === 1 ? 'new' : f === 2 ? 'pending' : 'done'));
  }

  /** Adds newly registered agents to the batch's total (atomic: chunks may be written concurrently). */
  async addToTotal(batchId: string, added: number): Promise<void> {
    if (added > 0) await this.redis.hincrby(this.keys.meta(batchId), 'total', added);
  }

  /** Every row of the manifest is registered and enqueued: the batch may now complete. */
  async markEnqueued(batchId: string): Promise<void> {
    await this.redis.hset(this.keys.meta(batchId), 'enqueued', '1');
  }

  /** Completes the batch if nothing is pending; returns its status. */
  async completeIfDone(batchId: string): Promise<BatchStatus> {
    return (await this.redis.nfCompleteIfDone(this.keys.counts(batchId), this.keys.meta(batchId))) as BatchStatus;
  }

  async counts(batchId: string): Promise<Counts> {
    const raw = await this.redis.hgetall(this.keys.counts(batchId));
    return Object.fromEntries(AGENT_STATUSES.map((s) => [s, Number(raw[s] ?? 0)])) as Counts;
  }

  async agentStatus(batchId: string, key: string): Promise<AgentStatus | undefined> {
    return ((await this.redis.hget(this.keys.status(batchId), key)) as AgentStatus | null) ?? undefined;
  }

  /**
   * Records the before snapshot unless one exists; returns the first one ever recorded, and whether it
   * is this one.
   */
  async saveBefore(batchId: string, key: string, agent: Agent): Promise<{ first: true } | { first: false; before: Agent }> {
    if ((await this.redis.hsetnx(this.keys.agent(batchId, key), 'before', pack(agent))) === 1) return { first: true };
    return { first: false, before: (await this.loadBefore(batchId, key))! };
  }

  async loadBefore(batchId: string, key: string): Promise<Agent | undefined> {
    const before = await this.redis.hgetBuffer(this.keys.agent(batchId, key), 'before');
    return before ? unpack<Agent>(before) : undefined;
  }

  /** The agent's status; counts an attempt if it is pending (one round trip at a job's start). */
  async beginAttempt(batchId: string, key: string): Promise<AgentStatus | undefined> {
    return ((await this.redis.nfBegin(this.keys.status(batchId), this.keys.agent(batchId, key), key)) as AgentStatus | null) ?? undefined;
  }

  /** Records a non-final error of an attempt (the agent stays pending). */
  async noteError(batchId: string, key: string, error: string): Promise<void> {
    await this.redis.hset(this.keys.agent(batchId, key), 'error', error);
  }

  /**
   * Moves an agent to its final status with its after snapshot, changed fields and error, and keeps
   * the counters. Returns false if the agent was no longer in `from`.
   */
  async finish(
    batchId: string,
    key: string,
    to: AgentStatus,
    from: AgentStatus | readonly AgentStatus[] | '*',
    record: { before?: Agent; after?: Agent; changed?: string[]; error?: string; job?: unknown },
  ): Promise<boolean> {
    const fields: (string | Buffer)[] = [];
    // A failed agent keeps its job, so that `retry` can enqueue it again.
    if (record.job !== undefined) fields.push('job', JSON.stringify(record.job));
    if (record.after) {
      if (!record.before) throw new Error('an after snapshot needs its before snapshot');
      // The before given is the recorded one (or its parse): its JSON text is the stored one's.
      fields.push('after', packAgainst(delta(record.before, record.after), JSON.stringify(record.before)));
    }
    if (record.changed) fields.push('changed', JSON.stringify(record.changed));
    fields.push('error', record.error ?? '');
    const moved = await this.redis.nfFinish(
      this.keys.status(batchId),
      this.keys.counts(batchId),
      this.keys.meta(batchId),
      this.keys.agent(batchId, key),
      key,
      to,
      typeof from === 'string' ? from : from.join('|'),
      ...fields,
    );
    return moved === 1;
  }

  async agentRecord(batchId: string, key: string): Promise<AgentRecord | undefined> {
    const status = await this.agentStatus(batchId, key);
    if (!status) return undefined;
    const raw = await this.redis.hgetallBuffer(this.keys.agent(batchId, key));
    const beforeText = raw.before ? unpackText(raw.before) : undefined;
    const before = beforeText !== undefined ? (JSON.parse(beforeText) as Agent) : undefined;
    const after = raw.after && before && beforeText !== undefined ? applyDelta(before, unpackAgainst<AfterDelta>(raw.after, beforeText)) : undefined;
    const error = raw.error?.toString('utf8');
    return {
      key,
      status,
      attempts: Number(raw.attempts?.toString() ?? 0),
      ...(error ? { error } : {}),
      ...(raw.changed ? { changed: JSON.parse(raw.changed.toString('utf8')) as string[] } : {}),
      ...(before ? { before } : {}),
      ...(after ? { after } : {}),
    };
  }

  /**
   * Moves a failed agent back to pending for `retry`; returns the job to enqueue again, or undefined
   * if it was no longer failed (or has no job recorded).
   */
  async retryJob<T>(batchId: string, key: string): Promise<T | undefined> {
    const hash = this.keys.agent(batchId, key);
    const [job, error] = await this.redis.hmget(hash, 'job', 'error');
    if (!job) return undefined;
    if (!(await this.finish(batchId, key, 'pending', 'failed', { error: error ? `retrying after: ${error}` : '' }))) return undefined;
    return JSON.parse(job) as T;
  }

  /** Changes the batch status only from one of `from`; returns the previous status or undefined. */
  /**
   * Changes the batch's status if it is one of `from`, writing `fields` (a halt's reason) in the same
   * step. Returns the previous status, or undefined if it was not changed.
   */
  async transition(batchId: string, to: BatchStatus, from: readonly BatchStatus[], fields: Record<string, string | number> = {}): Promise<BatchStatus | undefined> {
    const pairs = Object.entries(fields).flat();
    return ((await this.redis.nfTransition(this.keys.meta(batchId), to, from.length, ...from, ...pairs)) as BatchStatus | null) ?? undefined;
  }

  async setMeta(batchId: string, fields: Record<string, string | number>): Promise<void> {
    await this.redis.hset(this.keys.meta(batchId), fields);
  }

  /** Counts a 401/403 met by the batch; returns how many so far. */
  async noteAuthFailure(batchId: string): Promise<number> {
    return this.redis.hincrby(this.keys.meta(batchId), 'auth_failures', 1);
  }

  /** Stores patches once per batch under their digests, in one round trip. */
  async storePatches(batchId: string, patches: ReadonlyArray<readonly [digest: string, json: string]>): Promise<void> {
    if (patches.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const [digest, json] of patches) pipeline.hsetnx(this.keys.patches(batchId), digest, json);
    // A pipeline reports each command's error in its results instead of throwing.
    const failed = (await pipeline.exec())?.find(([error]) => error);
    if (failed) throw failed[0]!;
  }

  async loadPatch(batchId: string, digest: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.patches(batchId), digest)) ?? undefined;
  }

  async storeFile(batchId: string, file: string, text: string): Promise<void> {
    await this.redis.hset(this.keys.files(batchId), file, text);
  }

  async loadFile(batchId: string, file: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.files(batchId), file)) ?? undefined;
  }

  /** Deletes every key of the batch (its queue included) and its registry entry. */
  async deleteBatch(batchId: string): Promise<number> {
    let deleted = 0;
    // The batch's keys share its hash tag: one pattern finds them all, on Cluster in one slot.
    for await (const keys of scanKeys(this.redis, `${this.keys.queuePrefix(batchId)}:*`)) {
      const removed = await this.redis.del(...keys);
      deleted += removed;
    }
    await this.redis.zrem(this.keys.batches(), batchId);
    await this.redis.zrem(this.keys.active(), batchId);
    return deleted;
  }

  /** Writes one agent of an archive into a (new) batch: status, counters, snapshots, job. */
  async importAgent(batchId: string, record: AgentRecord & { job?: unknown }): Promise<void> {
    const fields: Array<string | Buffer> = ['attempts', String(record.attempts), 'error', record.error ?? ''];
    if (record.changed) fields.push('changed', JSON.stringify(record.changed));
    if (record.before) fields.push('before', pack(record.before));
    if (record.before && record.after) fields.push('after', packAgainst(delta(record.before, record.after), JSON.stringify(record.before)));
    if (record.job !== undefined) fields.push('job', JSON.stringify(record.job));
    await this.redis
      .multi()
      .hset(this.keys.status(batchId), record.key, record.status)
      .hincrby(this.keys.counts(batchId), record.status, 1)
      .hset(this.keys.agent(batchId, record.key), ...fields)
      .exec();
  }

  /**
   * Takes the agent's lease for this batch (or renews it if already ours). Returns the batch holding
   * it when that is another one. The lease expires on its own if its worker dies.
   */
  async takeLease(batchId: string, key: string, ttlMs: number): Promise<string | undefined> {
    const lease = this.keys.lease(key);
    if ((await this.redis.set(lease, batchId, 'PX', ttlMs, 'NX')) === 'OK') return undefined;
    const holder = await this.redis.get(lease);
    if (holder === batchId) {
      await this.redis.pexpire(lease, ttlMs);
      return undefined;
    }
    return holder ?? undefined; // expired in between: the next try takes it
  }

  async releaseLease(batchId: string, key: string): Promise<void> {
    await this.redis.nfReleaseLease(this.keys.lease(key), batchId);
  }

  /** Registers agents of a later wave: their jobs wait in the wave's list until it is released. */
  async hold(batchId: string, wave: number, items: ReadonlyArray<{ k: string }>): Promise<void> {
    const flags = await this.register(batchId, items.map((item) => item.k));
    // Pending ones too: after an interrupted submit a job may be listed twice, which is harmless
    // (the queue dedupes job ids, and a finished agent's job does nothing).
    const held = items.filter((_, i) => flags[i] !== 'done').map((item) => JSON.stringify(item));
    if (held.length > 0) await this.redis.rpush(this.keys.held(batchId, wave), ...held);
    await this.addToTotal(batchId, flags.filter((f) => f === 'new').length);
  }

  /** Every agent of the batch with its status, in chunks (HSCAN: no full load into memory). */
  async *scanStatuses(batchId: string, count = 1000): AsyncGenerator<Array<[string, AgentStatus]>> {
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscan(this.keys.status(batchId), cursor, 'COUNT', count);
      cursor = next;
      const pairs: Array<[string, AgentStatus]> = [];
      for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1] as AgentStatus]);
      if (pairs.length > 0) yield pairs;
    } while (cursor !== '0');
  }
}

function serialiseMeta(meta: BatchMeta): Record<string, string | number> {
  return {
    id: meta.id,
    kind: meta.kind,
    manifest: meta.manifest,
    digest: meta.digest,
    created_at: meta.createdAt,
    status: meta.status,
    total: meta.total,
    enqueued: meta.enqueued ? '1' : '0',
    options: JSON.stringify(meta.options),
    ...(meta.rollbackOf ? { rollback_of: meta.rollbackOf, force: meta.force ? '1' : '0' } : {}),
    ...(meta.waves ? { waves: JSON.stringify(meta.waves), wave: meta.wave ?? 0, approved_wave: meta.approvedWave ?? -1 } : {}),
    ...(meta.bakeMs ? { bake_ms: meta.bakeMs } : {}),
    ...(meta.approve ? { approve: '1' } : {}),
    ...(meta.maxFailures !== undefined ? { max_failures: meta.maxFailures } : {}),
    ...(meta.autoRollback ? { auto_rollback: '1' } : {}),
    ...(meta.startAt !== undefined ? { start_at: meta.startAt } : {}),
    ...(meta.window ? { window: meta.window } : {}),
    ...(meta.deadline !== undefined ? { deadline: meta.deadline } : {}),
    ...(meta.verifyCmd ? { verify_cmd: meta.verifyCmd } : {}),
    ...(meta.notifyUrl ? { notify_url: meta.notifyUrl } : {}),
  };
}

function delta(before: Agent, after: Agent): AfterDelta {
  const set: Record<string, Json> = {};
  for (const [field, value] of Object.entries(after)) {
    if (!isDeepStrictEqual(before[field], value)) setOwn(set, field, value as Json);
  }
  return { set, removed: Object.keys(before).filter((field) => !Object.hasOwn(after, field)) };
}

function applyDelta(before: Agent, d: AfterDelta): Agent {
  const after: Record<string, unknown> = { ...before };
  for (const [field, value] of Object.entries(d.set)) setOwn(after, field, value);
  for (const field of d.removed) delete after[field];
  return after as Agent;
}
