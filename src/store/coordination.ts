/**
 * What the store keeps beyond one batch's records: the clock, the batch's queue, locks and one-time
 * claims, verification results, held waves, worker heartbeats, manifest digests and agent leases. Each
 * change is one named command; nothing outside src/store touches `redis` or `keys` (test/boundaries).
 */
import { Cluster } from 'ioredis';
import { Queue } from 'bullmq';
import { escapeGlob, QUEUE_NAME, Keys } from './keys.js';
import { StatusFeed } from './status-feed.js';
import { scanKeys } from './connect.js';
import type { ScriptClient } from './scripts.js';
import type { WorkerInfo } from './types.js';
import type { BatchStatus } from '../batch/lifecycle.js';
import type { AgentJobData } from '../batch/job.js';

/**
 * BullMQ keeps 10,000 events per queue by default; the batch's own keys hold every result, so a short
 * events stream (for live listeners such as dashboards) is enough, and Redis stays bounded by snapshots.
 */
export const EVENTS_MAX_LEN = 1000;

/** One-time claims in a batch's metadata: the first caller wins, later ones learn they lost. */
export type Claim = 'deadline_passed' | `notified:${string}`;

export class Coordination {
  /** Store-internal (src/store only): the connection and the key names. */
  readonly keys: Keys;

  constructor(
    readonly redis: ScriptClient,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  get prefix(): string {
    return this.keys.prefix;
  }

  /** Now on the Redis server's clock (ms): every worker judges windows and bakes on it. */
  async now(): Promise<number> {
    const [seconds, micros] = await this.redis.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  /** The batch's BullMQ queue on this connection (the caller closes it). */
  queue(batchId: string): Queue<AgentJobData> {
    // Imported with the module: in the bundled CLI (scripts/bundle.mjs) a require of its own would load
    // a second copy of BullMQ from node_modules (~0.1 s), and `status` starts as fast either way.
    return new Queue<AgentJobData>(QUEUE_NAME, { connection: this.redis, prefix: this.queuePrefix(batchId), streams: { events: { maxLen: EVENTS_MAX_LEN } } });
  }

  /** Runs `fn` with the batch's queue, closing it afterwards whatever happens. */
  async withQueue<T>(batchId: string, fn: (queue: Queue<AgentJobData>) => Promise<T>): Promise<T> {
    const queue = this.queue(batchId);
    try {
      return await fn(queue);
    } finally {
      await queue.close();
    }
  }

  /**
   * How many of the batch's jobs sit in BullMQ's failed set — one ZCARD, no Queue object: the controller
   * asks every step (lost-jobs.ts), and the answer is nearly always 0.
   */
  async failedJobCount(batchId: string): Promise<number> {
    return this.redis.zcard(`${this.keys.queuePrefix(batchId)}:${QUEUE_NAME}:failed`);
  }

  /** The prefix of the batch's queue keys, for a BullMQ Worker on its own connection. */
  queuePrefix(batchId: string): string {
    return this.keys.queuePrefix(batchId);
  }

  /** Takes the batch's controller lock for `ttlMs` unless another step holds it. */
  async lockController(batchId: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.controller(batchId), token, 'PX', ttlMs, 'NX')) === 'OK';
  }

  /** Releases the lock only if it is still ours (it may have expired and been taken): one atomic step. */
  async unlockController(batchId: string, token: string): Promise<void> {
    await this.redis.nfReleaseLease(this.keys.controller(batchId), token);
  }

  /** Claims `what` for the batch (HSETNX on its metadata); true for the one caller that got it. */
  async claim(batchId: string, what: Claim, value = '1'): Promise<boolean> {
    return (await this.redis.hsetnx(this.keys.meta(batchId), what, value)) === 1;
  }

  /** The automatic rollback's creation, claimed once per batch (its id reads `creating` until made). */
  async claimAutoRollback(batchId: string): Promise<boolean> {
    return (await this.redis.hsetnx(this.keys.meta(batchId), 'auto_rollback_id', 'creating')) === 1;
  }

  /** A wave's verification: undefined (not started), 'running', 'passed' or 'failed: …'. */
  async verifyResult(batchId: string, wave: number): Promise<string | undefined> {
    return (await this.redis.get(this.keys.verify(batchId, wave))) ?? undefined;
  }

  /** Claims the wave's verification for `ttlMs` (a crashed runner's claim lapses). */
  async claimVerify(batchId: string, wave: number, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.verify(batchId, wave), 'running', 'PX', ttlMs, 'NX')) === 'OK';
  }

  async setVerifyResult(batchId: string, wave: number, result: string): Promise<void> {
    await this.redis.set(this.keys.verify(batchId, wave), result);
  }

  /** A later wave's held jobs, in chunks (the list stays until dropHeld). */
  async *heldJobs(batchId: string, wave: number, size = 1000): AsyncGenerator<AgentJobData[]> {
    const key = this.keys.held(batchId, wave);
    for (let start = 0; ; start += size) {
      const items = await this.redis.lrange(key, start, start + size - 1);
      if (items.length > 0) yield items.map((json) => JSON.parse(json) as AgentJobData);
      if (items.length < size) return;
    }
  }

  async dropHeld(batchId: string, wave: number): Promise<void> {
    await this.redis.del(this.keys.held(batchId, wave));
  }

  /** A worker's heartbeat: it is alive and serves `batches` (undefined = every active batch). */
  async beat(worker: WorkerInfo, now: number, ttlMs: number): Promise<void> {
    const key = this.keys.worker(worker.id);
    await this.redis
      .multi()
      .zadd(this.keys.workers(), now, worker.id)
      .hset(key, 'host', worker.host, 'pid', worker.pid, 'batches', worker.batches?.join(',') ?? '*', 'run_verify', worker.runVerify ? '1' : '0')
      .pexpire(key, ttlMs)
      // Workers gone for an hour leave the list (a crashed one never says goodbye).
      .zremrangebyscore(this.keys.workers(), '-inf', now - 3_600_000)
      .exec();
  }

  /** A worker leaving (closed cleanly). */
  async leave(workerId: string): Promise<void> {
    await this.redis.multi().zrem(this.keys.workers(), workerId).del(this.keys.worker(workerId)).exec();
  }

  /** Workers whose last heartbeat is newer than `since` (Redis clock, ms). */
  async liveWorkers(since: number): Promise<WorkerInfo[]> {
    const ids = await this.redis.zrangebyscore(this.keys.workers(), since, '+inf');
    const out: WorkerInfo[] = [];
    for (const id of ids) {
      const raw = await this.redis.hgetall(this.keys.worker(id));
      if (!raw.host) continue;
      out.push({ id, host: raw.host, pid: Number(raw.pid), ...(raw.batches && raw.batches !== '*' ? { batches: raw.batches.split(',') } : {}), runVerify: raw.run_verify === '1' });
    }
    return out;
  }

  /** The latest batch made from a manifest with this digest (a re-run attaches to it), if any. */
  async batchOfDigest(digest: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.digest(digest))) ?? undefined;
  }

  /** Records `batchId` as the latest batch of `digest`. */
  async setBatchOfDigest(digest: string, batchId: string): Promise<void> {
    await this.redis.set(this.keys.digest(digest), batchId);
  }

  /** Forgets `digest` if it still points at `batchId` (a pruned batch). */
  async forgetDigest(digest: string, batchId: string): Promise<void> {
    await this.redis.nfReleaseLease(this.keys.digest(digest), batchId);
  }

  /** Just the status (the check before each request; the rest of the metadata is not needed there). */
  /**
   * Takes the agent's lease for this batch (or renews it if already ours). Returns the batch holding
   * it when that is another one — and this batch is then noted as waiting, to be named by its release.
   * The lease expires on its own if its worker dies.
   */
  async takeLease(batchId: string, key: string, ttlMs: number): Promise<string | undefined> {
    const holder = await this.redis.nfTakeLease(this.keys.lease(key), this.keys.leaseWaiters(key), batchId, ttlMs);
    return holder === '' ? undefined : holder;
  }

  /** Whether another batch than this one holds the agent's lease now. */
  async leasedElsewhere(batchId: string, key: string): Promise<boolean> {
    const holder = await this.redis.get(this.keys.lease(key));
    return holder !== null && holder !== batchId;
  }

  /** Releases the agent's lease if this batch holds it; returns the batches that waited for it. */
  async releaseLease(batchId: string, key: string): Promise<string[]> {
    return this.redis.nfReleaseAgentLease(this.keys.lease(key), this.keys.leaseWaiters(key), batchId);
  }

  // The batch's request schedule (rate-limiter.ts) and outage clock, each one Lua step.
  /**
   * Reserves the batch's next `count` request slots (rate-limiter.ts); with them, the batch status at
   * that moment. Returns how long to wait for the first slot, the effective rate × 1000 (the others
   * follow 1000/rate ms apart), and the status.
   */
  async reserveSlot(batchId: string, rate: number, recoveryMs: number, count = 1): Promise<{ waitMs: number; rateMilli: number; status: BatchStatus | undefined }> {
    const [waitMs, rateMilli, status] = await this.redis.nfReserve(this.keys.rate(batchId), this.keys.meta(batchId), rate, recoveryMs, count);
    return { waitMs, rateMilli, status: (status || undefined) as BatchStatus | undefined };
  }

  /** A 429: the batch's schedule is pushed back and its rate lowered (rate-limiter.ts). */
  async penalizeSlots(batchId: string, retryAfterMs: number, minFactor: number): Promise<void> {
    await this.redis.nfPenalize(this.keys.rate(batchId), retryAfterMs, minFactor);
  }

  /** A subscription to this prefix's batch status changes (status-feed.ts); the caller closes it. */
  openStatusFeed(url: string): StatusFeed {
    return new StatusFeed(url, this.keys.statusChannel());
  }

  /**
   * A request met an API that looks down. Returns 'halted' if the batch has just halted for it
   * (api_unreachable), 'outage' while no request has succeeded within `recentMs`, else 'reachable'.
   */
  async noteApiTrouble(batchId: string, outageMs: number, recentMs: number, reason: string): Promise<'halted' | 'outage' | 'reachable'> {
    const [state] = await this.redis.nfApiTrouble(this.keys.meta(batchId), outageMs, recentMs, reason, this.keys.statusChannel());
    return state === 2 ? 'halted' : state === 1 ? 'reachable' : 'outage';
  }

  /** A request got the API's answer: the outage clock stops. */
  async noteApiReachable(batchId: string): Promise<void> {
    await this.redis.nfApiReachable(this.keys.meta(batchId));
  }

  /** `count` slots in the API key's schedule (see reserve-key.lua): how long to wait, and the key's rate now. */
  async reserveKeySlot(keyId: string, batchRate: number, recoveryMs: number, windowMs: number, count = 1): Promise<{ waitMs: number; rateMilli: number }> {
    const [waitMs, rateMilli] = await this.redis.nfReserveKey(this.keys.keySchedule(keyId), batchRate, recoveryMs, windowMs, count);
    return { waitMs, rateMilli };
  }

  /** A slot in an API key's schedule of writes (`--write-rate`): the PATCHes of every batch on the key share it. */
  async reserveWriteSlot(keyId: string, writeRate: number, recoveryMs: number, windowMs: number): Promise<number> {
    const [waitMs] = await this.redis.nfReserveKey(this.keys.keyWrites(keyId), writeRate, recoveryMs, windowMs, 1);
    return waitMs;
  }

  /** A 429 on this key: every batch using it waits out the Retry-After, and the key's rate halves. */
  async penalizeKey(keyId: string, retryAfterMs: number, minFactor: number): Promise<void> {
    await this.redis.nfPenalize(this.keys.keySchedule(keyId), retryAfterMs, minFactor);
  }

  /** `--key-rate`: the key's budget from now on, for every batch using it (0 lifts it). */
  async setKeyRate(keyId: string, rate: number): Promise<void> {
    await this.redis.multi().hset(this.keys.keySchedule(keyId), 'key_rate', String(rate)).pexpire(this.keys.keySchedule(keyId), 86_400_000).exec();
  }

  /** Deletes every key's schedule under the prefix (prune, once no unfinished batch is left to use one). */
  async dropKeySchedules(): Promise<number> {
    let dropped = 0;
    // Exactly a schedule's name (32 hex digits in braces): `P:keyrate:*` also matched every key of a
    // prefix named `P:keyrate` (or `P:keyrate:x`), and prune deleted another prefix's batches.
    const pattern = `${escapeGlob(this.keys.prefix)}:keyrate:{${'[0-9a-f]'.repeat(32)}}`;
    for await (const keys of scanKeys(this.redis, pattern)) for (const key of keys) dropped += await this.redis.del(key);
    return dropped;
  }

  /**
   * A request's slots (`count` of each) in its batch's schedule and its key's together — one Lua step on a single Redis;
   * on a Cluster the key's schedule lives in another slot, so two steps side by side.
   */
  async reserveSlots(batchId: string, rate: number, recoveryMs: number, keyId: string, windowMs: number, count = 1): Promise<{ waitMs: number; rateMilli: number; status: BatchStatus | undefined }> {
    if (this.redis instanceof Cluster) {
      const [batch, key] = await Promise.all([this.reserveSlot(batchId, rate, recoveryMs, count), this.reserveKeySlot(keyId, rate, recoveryMs, windowMs, count)]);
      return { waitMs: Math.max(batch.waitMs, key.waitMs), rateMilli: Math.min(batch.rateMilli, key.rateMilli), status: batch.status };
    }
    const [waitMs, rateMilli, status] = await this.redis.nfReserveBoth(this.keys.rate(batchId), this.keys.meta(batchId), this.keys.keySchedule(keyId), rate, recoveryMs, windowMs, count);
    return { waitMs, rateMilli, status: (status || undefined) as BatchStatus | undefined };
  }
}
