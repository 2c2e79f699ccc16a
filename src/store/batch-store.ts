/**
 * Batch records in Redis. The engine and the commands read and write batches only through this class,
 * built in layers, one file each: Coordination (clock, queue, locks, claims, heartbeats, leases),
 * AgentRecords (an agent's status, attempts, snapshots) and here the batch itself — its metadata and
 * life cycle, counters, stored patches and files, deletion.
 */
import { BATCH_ID, escapeGlob } from './keys.js';
import { scanKeys } from './connect.js';
import { AgentRecords } from './agent-records.js';
import { decodeMeta, encodeChange, encodeMeta, type MetaChange } from './meta-codec.js';
import type { BatchStatus } from '../batch/lifecycle.js';
import { REQUEST_KINDS, type BatchMeta, type BatchOptions, type Counts, type RequestCounts } from '../batch/records.js';
import { AGENT_STATUSES, FINAL_BATCH_STATUSES } from '../batch/lifecycle.js';
import { memoryRoom, type MemoryRoom } from './redis-memory.js';
import { AuditLog } from './audit-log.js';
import { DriftSchedules } from './drift-schedules.js';
import { HistoryIndex } from './history-index.js';
import { PrunedBatches } from './pruned-batches.js';
import { packAsync, unpack } from './snapshot-codec.js';
import type { Agent } from '../api/types.js';

export * from './types.js';
export type { MetaChange } from './meta-codec.js';
export { ENV_NAME } from '../names.js';


export class BatchStore extends AgentRecords {
  /** Who did what (SPEC §16), over the same connection. */
  readonly audit = new AuditLog(this.redis, this.keys);
  readonly driftChecks = new DriftSchedules(this.redis, this.keys);
  readonly history = new HistoryIndex(this.redis, this.keys);
  readonly pruned = new PrunedBatches(this.redis, this.keys);

  /** Creates the batch, or returns the existing one (the caller compares digests). */
  async createBatch(meta: BatchMeta, options: { listActive?: boolean } = {}): Promise<{ created: boolean; meta: BatchMeta }> {
    const key = this.keys.meta(meta.id);
    const created = (await this.redis.hsetnx(key, 'id', meta.id)) === 1;
    if (created) await this.redis.hset(key, encodeMeta(meta));
    const stored = created ? meta : (await this.getBatch(meta.id))!;
    // Also when it existed: a create interrupted before these lines is completed by the next submit.
    await this.redis.zadd(this.keys.batches(), 'NX', meta.createdAt, meta.id);
    // Not an import: an imported batch is inert, never polled by workers.
    if (options.listActive ?? true) await this.markActive(meta.id, meta.createdAt);
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
    return decodeMeta(await this.redis.hgetall(this.keys.meta(id)));
  }

  async batchStatus(batchId: string): Promise<BatchStatus | undefined> {
    return ((await this.redis.hget(this.keys.meta(batchId), 'status')) as BatchStatus | null) ?? undefined;
  }

  /** Batch ids, oldest first. */
  listBatchIds(): Promise<string[]> {
    return this.redis.zrange(this.keys.batches(), '0', '-1');
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

  /**
   * Changes the batch's status if it is one of `from`, writing `fields` (a halt's reason) in the same
   * step. Returns the previous status, or undefined if it was not changed.
   */
  async transition(batchId: string, to: BatchStatus, from: readonly BatchStatus[], change: MetaChange = {}): Promise<BatchStatus | undefined> {
    const pairs = Object.entries(encodeChange(change)).flat();
    return ((await this.redis.nfTransition(this.keys.meta(batchId), this.keys.statusChannel(), to, from.length, ...from, ...pairs)) as BatchStatus | null) ?? undefined;
  }

  /**
   * `transition` written even when Redis is out of memory (a script flagged `allow-oom`, Redis 7+): the
   * `redis_full` halt must be recorded exactly when no other write is taken. A Redis without script
   * flags (6.x) gets the plain transition.
   */
  async transitionWhenFull(batchId: string, to: BatchStatus, from: readonly BatchStatus[], change: MetaChange = {}): Promise<BatchStatus | undefined> {
    const pairs = Object.entries(encodeChange(change)).flat();
    try {
      return ((await this.redis.nfTransitionOom(this.keys.meta(batchId), this.keys.statusChannel(), to, from.length, ...from, ...pairs)) as BatchStatus | null) ?? undefined;
    } catch (error) {
      if (!/compil|shebang|Unexpected flag|unknown/i.test((error as Error).message)) throw error;
      return this.transition(batchId, to, from, change);
    }
  }

  /** How full Redis is (INFO memory; a read, answered when Redis is full); undefined if it does not say. */
  async memoryRoom(): Promise<MemoryRoom | undefined> {
    return memoryRoom(this.redis);
  }

  /** Changes the batch's --rate (an operator re-running it with another rate); workers read it each poll. */
  async setRate(batchId: string, rate: number): Promise<void> {
    const raw = await this.redis.hget(this.keys.meta(batchId), 'options');
    const options = { ...(JSON.parse(raw ?? '{}') as BatchOptions), rate };
    await this.redis.hset(this.keys.meta(batchId), 'options', JSON.stringify(options));
  }

  async setMeta(batchId: string, change: MetaChange): Promise<void> {
    await this.redis.hset(this.keys.meta(batchId), encodeChange(change));
  }

  /** Counts a 401/403 met by the batch; returns how many so far. */
  /**
   * The API refused the key of `orgId` (401/403) once more. At `limit` refusals the org is blocked: its
   * agents stay pending, the others go on (SPEC §10). Returns whether the org is blocked now.
   */
  async noteAuthRefusal(batchId: string, orgId: string, message: string, limit: number): Promise<boolean> {
    const meta = this.keys.meta(batchId);
    if ((await this.redis.hincrby(meta, `auth_failures:${orgId}`, 1)) < limit) return false;
    await this.redis.hset(meta, `blocked:${orgId}`, message.slice(0, 300) || 'refused');
    return true;
  }

  /** Pending agents of orgs other than these (undefined for a batch that never counted per org). */
  async pendingOutside(batchId: string, orgs: readonly string[]): Promise<number | undefined> {
    const perOrg = await this.redis.hgetall(this.keys.orgPending(batchId));
    if (Object.keys(perOrg).length === 0) return undefined;
    return Object.entries(perOrg).reduce((sum, [org, n]) => (orgs.includes(org) ? sum : sum + Math.max(0, Number(n))), 0);
  }

  /** Lifts every org's block and refusal count (resume, after the keys were fixed). */
  async unblockOrgs(batchId: string): Promise<string[]> {
    const meta = this.keys.meta(batchId);
    const fields = (await this.redis.hkeys(meta)).filter((f) => f.startsWith('blocked:') || f.startsWith('auth_failures'));
    if (fields.length > 0) await this.redis.hdel(meta, ...fields);
    return fields.filter((f) => f.startsWith('blocked:')).map((f) => f.slice('blocked:'.length));
  }

  /** Records the auth scheme an org's key was accepted with (for status and the report). */
  async noteAuthScheme(batchId: string, orgId: string, scheme: string): Promise<void> {
    await this.redis.hset(this.keys.meta(batchId), `auth:${orgId}`, scheme);
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

  /** Every stored patch (digest → JSON) and file (path → text) of the batch, for an archive. */
  async patchEntries(batchId: string): Promise<Array<[string, string]>> {
    return Object.entries(await this.redis.hgetall(this.keys.patches(batchId)));
  }

  async fileEntries(batchId: string): Promise<Array<[string, string]>> {
    return Object.entries(await this.redis.hgetall(this.keys.files(batchId)));
  }

  /** Deletes every key of the batch (its queue included) and its registry entry. */
  async deleteBatch(batchId: string): Promise<number> {
    let deleted = 0;
    // Out of its agents' histories first (SPEC §16), while its records still say which agents it had.
    for await (const pairs of this.scanStatuses(batchId, 500)) await this.history.forget(batchId, pairs.map(([key]) => key));
    const digest = await this.redis.hget(this.keys.meta(batchId), 'digest');
    if (digest && /^[0-9a-f]{64}$/.test(digest)) await this.forgetDigest(digest, batchId);
    // The batch's keys share its hash tag: one pattern finds them all, on Cluster in one slot.
    if (!BATCH_ID.test(batchId)) throw new RangeError(`invalid batch id "${batchId}"`);
    for await (const keys of scanKeys(this.redis, `${escapeGlob(this.keys.queuePrefix(batchId))}:*`)) {
      const removed = await this.redis.del(...keys);
      deleted += removed;
    }
    await this.redis.zrem(this.keys.batches(), batchId);
    await this.redis.zrem(this.keys.active(), batchId);
    // A pruned batch has no after snapshots left to drift from.
    await this.driftChecks.stop(batchId);
    return deleted;
  }

  /** An applied plan's snapshots of its agents (SPEC §15), packed as before snapshots are. */
  async storePlanned(batchId: string, entries: ReadonlyArray<[key: string, agent: Agent]>): Promise<void> {
    if (entries.length === 0) return;
    const packed = await Promise.all(entries.map(async ([key, agent]) => [key, await packAsync(agent)] as const));
    await this.redis.hset(this.keys.planned(batchId), ...packed.flat());
  }

  /** The plan's snapshot of an agent, if the batch has one. */
  async plannedBefore(batchId: string, key: string): Promise<Agent | undefined> {
    const packed = await this.redis.hgetBuffer(this.keys.planned(batchId), key);
    return packed ? unpack<Agent>(packed) : undefined;
  }

  /** Adds requests sent to the batch's counters, by kind (one round trip). */
  async addRequests(batchId: string, counts: RequestCounts): Promise<void> {
    const key = this.keys.requests(batchId);
    const pipeline = this.redis.pipeline();
    for (const kind of REQUEST_KINDS) if (counts[kind] > 0) pipeline.hincrby(key, kind, counts[kind]);
    await pipeline.exec();
  }

  /** The requests the batch sent so far, by kind. */
  async requestCounts(batchId: string): Promise<RequestCounts> {
    const raw = await this.redis.hgetall(this.keys.requests(batchId));
    return Object.fromEntries(REQUEST_KINDS.map((kind) => [kind, Math.max(0, Number(raw[kind] ?? 0) || 0)])) as RequestCounts;
  }

  /** The calls gate's judgements, wave → JSON as the controller wrote it (read as untrusted by its reader). */
  async analyses(batchId: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.analysis(batchId));
  }

  async saveAnalysis(batchId: string, wave: number, json: string): Promise<void> {
    await this.redis.hset(this.keys.analysis(batchId), String(wave), json);
  }

  /** Claims the judgement of a wave for `ttlMs`: one worker reads the calls at a time. */
  async claimAnalysis(batchId: string, wave: number, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.analysing(batchId, wave), '1', 'PX', ttlMs, 'NX')) === 'OK';
  }

  /** Ends the claim now, or (`afterMs`) lets it lapse only that much later: a failed read is not retried at once. */
  async releaseAnalysis(batchId: string, wave: number, afterMs?: number): Promise<void> {
    if (afterMs === undefined) await this.redis.del(this.keys.analysing(batchId, wave));
    else await this.redis.set(this.keys.analysing(batchId, wave), '1', 'PX', afterMs);
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
}
