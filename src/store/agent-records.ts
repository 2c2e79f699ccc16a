/**
 * One agent's record in a batch: its status (and the counters kept equal to the statuses), attempts,
 * last error, the job kept for retry, and its snapshots. `before` is the agent as first read (set once,
 * never overwritten); `after` is stored as its difference from before (the fields that differ, and any
 * that vanished), compressed against the before's text (snapshot-codec.ts): the after costs little more than
 * its changes.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Agent, Json } from '../api/types.js';
import { setOwn } from '../patch/merge.js';
import { Cluster } from 'ioredis';
import { jsonText, pack, packAgainst, packAgainstAsync, packAsync, unpack, unpackAgainst, unpackText } from './snapshot-codec.js';
import { Coordination } from './coordination.js';
import { historyMember } from './keys.js';
import type { AgentStatus, BatchStatus } from '../batch/lifecycle.js';
import type { AgentRecord } from '../batch/records.js';

/** What an agent's end records besides its status (finish). */
export interface FinishRecord {
  before?: Agent;
  after?: Agent;
  changed?: string[];
  error?: string;
  job?: unknown;
}

interface AfterDelta {
  set: Record<string, Json>;
  removed: string[];
}

export class AgentRecords extends Coordination {
  /** Registers agents as pending: per agent, `new`, still `pending` from an earlier submit, or `done`. */
  async register(batchId: string, agentKeys: string[]): Promise<Array<'new' | 'pending' | 'done'>> {
    if (agentKeys.length === 0) return [];
    const flags = await this.redis.nfRegister(this.keys.status(batchId), this.keys.counts(batchId), this.keys.orgPending(batchId), ...agentKeys);
    return flags.map((f) => (f === 1 ? 'new' : f === 2 ? 'pending' : 'done'));
  }

  /** The statuses of `keys` in a batch (undefined where the batch does not hold the agent): one HMGET. */
  async statusesOf(batchId: string, keys: readonly string[]): Promise<Array<AgentStatus | undefined>> {
    if (keys.length === 0) return [];
    return (await this.redis.hmget(this.keys.status(batchId), ...keys)).map((s) => (s ?? undefined) as AgentStatus | undefined);
  }

  async agentStatus(batchId: string, key: string): Promise<AgentStatus | undefined> {
    return ((await this.redis.hget(this.keys.status(batchId), key)) as AgentStatus | null) ?? undefined;
  }

  /**
   * Records the before snapshot unless one exists; returns the first one ever recorded, and whether it
   * is this one.
   */
  async saveBefore(batchId: string, key: string, agent: Agent): Promise<({ first: true } | { first: false; before: Agent }) & { status: BatchStatus | undefined }> {
    const packed = await packAsync(agent);
    // The agent's history (SPEC §16): this batch snapshotted it. Sent beside the Lua step, not after it
    // (one round trip on the job's path, not two); NX keeps the first time, so a later attempt changes
    // nothing. Apart from the Lua step because on a Cluster the agent's index lives in its own slot.
    const [[first, status, stored]] = await Promise.all([this.redis.nfSaveBeforeBuffer(this.keys.agent(batchId, key), this.keys.meta(batchId), packed), this.redis.zadd(this.keys.history(key), 'NX', Date.now(), historyMember(key, batchId))]);
    const batchStatus = (status.toString() || undefined) as BatchStatus | undefined;
    if (first === 1) return { first: true, status: batchStatus };
    return { first: false, before: unpack<Agent>(stored!), status: batchStatus };
  }

  /** Gives back the attempt counted at a job's start, when the job was put back without a request. */
  async uncountAttempt(batchId: string, key: string): Promise<void> {
    await this.redis.nfUncount(this.keys.status(batchId), this.keys.agent(batchId, key), key);
  }

  async loadBefore(batchId: string, key: string): Promise<Agent | undefined> {
    const before = await this.redis.hgetBuffer(this.keys.agent(batchId, key), 'before');
    return before ? unpack<Agent>(before) : undefined;
  }

  /** The agent's status; counts an attempt if it is pending (one round trip at a job's start). */
  async beginAttempt(batchId: string, key: string): Promise<AgentStatus | undefined> {
    return ((await this.redis.nfBegin(this.keys.status(batchId), this.keys.agent(batchId, key), key)) as AgentStatus | null) ?? undefined;
  }

  /**
   * A job's start: beginAttempt and takeLease — one Lua step on a single Redis (a Lua call fewer per
   * agent); on a Cluster the lease is in the agent's own slot, so the two go side by side.
   */
  async beginWithLease(batchId: string, key: string, ttlMs: number): Promise<{ status: AgentStatus | undefined; holder: string | undefined }> {
    if (this.redis instanceof Cluster) {
      const [status, holder] = await Promise.all([this.beginAttempt(batchId, key), this.takeLease(batchId, key, ttlMs)]);
      return { status, holder };
    }
    const [status, holder] = await this.redis.nfBeginLease(this.keys.status(batchId), this.keys.agent(batchId, key), this.keys.lease(key), this.keys.leaseWaiters(key), key, batchId, ttlMs);
    return { status: (status || undefined) as AgentStatus | undefined, holder: holder === '' ? undefined : holder };
  }

  /** Records a non-final error of an attempt (the agent stays pending). */
  async noteError(batchId: string, key: string, error: string): Promise<void> {
    await this.redis.hset(this.keys.agent(batchId, key), 'error', error);
  }

  /**
   * Moves an agent to its final status with its after snapshot, changed fields and error, and keeps
   * the counters. Returns false if the agent was no longer in `from`.
   */
  async finish(batchId: string, key: string, to: AgentStatus, from: AgentStatus | readonly AgentStatus[] | '*', record: FinishRecord): Promise<boolean> {
    const { head, fields } = await this.#finishArgs(key, to, from, record);
    const moved = await this.redis.nfFinish(...this.#finishKeys(batchId, key), ...head, ...fields);
    return moved === 1;
  }

  /**
   * `finish`, and the agent's lease released by the batch (releaseLease) — one Lua step on a single
   * Redis (a Lua call fewer per agent); on a Cluster the lease is in the agent's own slot, so the two go
   * side by side. Returns whether it moved, and the batches that waited for the lease.
   */
  async finishAndRelease(batchId: string, key: string, to: AgentStatus, from: AgentStatus | readonly AgentStatus[] | '*', record: FinishRecord): Promise<{ moved: boolean; waiters: string[] }> {
    if (this.redis instanceof Cluster) {
      const [moved, waiters] = await Promise.all([this.finish(batchId, key, to, from, record), this.releaseLease(batchId, key)]);
      return { moved, waiters };
    }
    const { head, fields } = await this.#finishArgs(key, to, from, record);
    const [moved, waiters] = await this.redis.nfFinishRelease(...this.#finishKeys(batchId, key), this.keys.lease(key), this.keys.leaseWaiters(key), ...head, batchId, ...fields);
    return { moved: moved === 1, waiters };
  }

  #finishKeys(batchId: string, key: string): [string, string, string, string, string] {
    return [this.keys.status(batchId), this.keys.counts(batchId), this.keys.meta(batchId), this.keys.agent(batchId, key), this.keys.orgPending(batchId)];
  }

  /** finish-agent.lua's arguments: its head (the agent key, to, from, the status channel) and the field pairs. */
  async #finishArgs(key: string, to: AgentStatus, from: AgentStatus | readonly AgentStatus[] | '*', record: FinishRecord): Promise<{ head: string[]; fields: (string | Buffer)[] }> {
    const fields: (string | Buffer)[] = [];
    // A failed agent keeps its job, so that `retry` can enqueue it again.
    if (record.job !== undefined) fields.push('job', JSON.stringify(record.job));
    if (record.after) {
      if (!record.before) throw new Error('an after snapshot needs its before snapshot');
      // The before given is the recorded one (or its parse): its JSON text is the stored one's.
      fields.push('after', await packAgainstAsync(delta(record.before, record.after), jsonText(record.before)));
    }
    if (record.changed) fields.push('changed', JSON.stringify(record.changed));
    fields.push('error', record.error ?? '');
    return { head: [key, to, typeof from === 'string' ? from : from.join('|'), this.keys.statusChannel()], fields };
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

  /** The job kept with a failed, skipped or conflicting agent's record (untrusted: parsed, not checked). */
  async recordedJob<T>(batchId: string, key: string): Promise<T | undefined> {
    const job = await this.redis.hget(this.keys.agent(batchId, key), 'job');
    try {
      return job ? (JSON.parse(job) as T) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Moves a failed (or skipped) agent back to pending for `retry`; returns the job to enqueue again, or
   * undefined if it was no longer in `from` (or has no job recorded: skipped by an older version).
   */
  async retryJob<T>(batchId: string, key: string, from: 'failed' | 'skipped' | 'conflict' = 'failed'): Promise<T | undefined> {
    const hash = this.keys.agent(batchId, key);
    const [job, error] = await this.redis.hmget(hash, 'job', 'error');
    if (!job) return undefined;
    if (!(await this.finish(batchId, key, 'pending', from, { error: error ? `retrying after: ${error}` : '' }))) return undefined;
    return JSON.parse(job) as T;
  }

  /** The job an agent keeps for `retry` (JSON as stored), and its last error. */
  async agentJob(batchId: string, key: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.agent(batchId, key), 'job')) ?? undefined;
  }

  async agentError(batchId: string, key: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.agent(batchId, key), 'error')) ?? undefined;
  }

  /** Writes one agent of an archive into a (new) batch: status, counters, snapshots, job. */
  async importAgent(batchId: string, record: AgentRecord & { job?: unknown }, at: number): Promise<void> {
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
    // An imported batch joins its agents' histories (the index is the batch's records, looked up by agent).
    if (record.before) await this.redis.zadd(this.keys.history(record.key), at, historyMember(record.key, batchId));
  }

  /**
   * What a finished agent's record takes in Redis (MEMORY USAGE), averaged over up to `sample` finished
   * agents; undefined before any agent finished. For the `redis_full` figures (redis-memory.ts).
   */
  async finishedAgentBytes(batchId: string, sample = 8): Promise<number | undefined> {
    const sizes: number[] = [];
    for await (const pairs of this.scanStatuses(batchId, 200)) {
      for (const [key, status] of pairs) {
        if (status === 'pending' || sizes.length >= sample) continue;
        const bytes = Number(await this.redis.call('MEMORY', 'USAGE', this.keys.agent(batchId, key)));
        if (bytes > 0) sizes.push(bytes);
      }
      if (sizes.length >= sample) break;
    }
    return sizes.length > 0 ? Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length) : undefined;
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
