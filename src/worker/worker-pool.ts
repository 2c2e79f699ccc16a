/**
 * A worker process's engine: it watches the list of active batches, runs one BullMQ Worker per active batch
 * (each batch has its own queue), and shares one limit of in-flight requests (`--concurrency`) across
 * them. On close it stops taking jobs, lets in-flight ones finish (up to a grace period, then aborts
 * their requests — the jobs are retried later, safely), and closes its connections.
 * Longer than 300 lines because its poll, its runners and its shutdown share one set of private
 * state (the runners, the stop signal, the in-flight limit); splitting them would pass it all around.
 */
import { DelayedError, Worker, type Job } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import pLimit from 'p-limit';
import { warmCompression } from '../store/snapshot-codec.js';
import { jobsInFlight } from '../batch/jobs-in-flight.js';
import type { NovaClient } from '../api/client.js';
import { BatchStore } from '../store/batch-store.js';
import { FINAL_BATCH_STATUSES } from '../batch/lifecycle.js';
import type { BatchMeta } from '../batch/records.js';
import type { StatusFeed } from '../store/status-feed.js';
import { connectRedis } from '../store/connect.js';
import { QUEUE_NAME, splitAgentKey } from '../store/keys.js';
import type { ScriptClient } from '../store/scripts.js';
import { backoffDelay } from '../batch/backoff.js';
import type { AgentJobData } from '../batch/job.js';
import { processAgentJob } from './processor.js';
import { stepBatch } from '../controller/controller.js';
import { callsReader, type CallsReader } from '../controller/calls-gate.js';
import { flushNotifications, notify } from '../controller/hooks.js';
import { batchDeps } from './batch-deps.js';
import type { RequestTally } from './request-tally.js';
import { haltIfNearlyFull, isRedisFull, quietRepeats } from './redis-full.js';
import type { Journal } from '../journal/journal.js';
import { parseHalt } from '../batch/halt.js';

/** A worker whose heartbeat is older than this is taken for gone (heartbeats come every poll, ~1 s). */
export const HEARTBEAT_TTL_MS = 15_000;

export { AUTH_FAILURES_TO_HALT } from './batch-deps.js';

export interface WorkerPoolOptions {
  redisUrl: string;
  prefix: string;
  client: NovaClient;
  /** In-flight requests for this process, shared by the batches it serves (`--concurrency`). Default 8. */
  concurrency?: number;
  /** Work on these batches only (`run`, `worker --queue A B`); default: every active batch. */
  batchIds?: readonly string[];
  /**
   * A batch this process has just created (`run`): its jobs are taken at once, not after the first
   * poll's Redis steps (~100 ms beside the submit). Not with a start, window or deadline (judged on the
   * Redis clock, known after that poll).
   */
  created?: BatchMeta;
  /** Settles when `created`'s first jobs are in its queue: its runner fetches jobs from then on. */
  firstJobs?: Promise<void>;
  /** How often the active batches are read (new, finished, paused…). Default 1000 ms. */
  pollMs?: number;
  /** BullMQ lock duration: a job whose worker vanished is picked up again after about this. Default 30 s. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** This process may run the batches' --verify-cmd commands. Default false (see hooks.ts). */
  runVerify?: boolean;
  /** Per-agent outcomes (info), retries (warn), controller events (info), errors (error). */
  log?: Logger;
  /** Prometheus metrics to feed (the client's own requests are observed by the caller's client). */
  metrics?: Metrics;
  onError?: (error: Error) => void;
  /** Append every before snapshot (and change) to this local journal too (journal.ts). */
  journal?: Journal;
}

interface Runner {
  worker: Worker<AgentJobData>;
  connection: ScriptClient;
  /** The latest metadata, read by the processor's window check. */
  update(meta: BatchMeta): void;
  /** The batch's calls, read within its budget, for a calls gate's judgement. */
  calls: CallsReader;
  /** The requests the batch sent from this process, added to its counters each poll. */
  requests: RequestTally;
}

export class WorkerPool {
  readonly store: BatchStore;
  readonly #options: WorkerPoolOptions;
  readonly #runners = new Map<string, Runner>();
  readonly #limit: ReturnType<typeof pLimit>;
  readonly #shutdown = new AbortController();
  /** Aborted the moment this pool stops taking work: rate-slot waits end, and the gate lets nothing out. */
  readonly #stopping = new AbortController();
  #closing: Promise<void> | undefined;
  readonly #command: ScriptClient;
  /**
   * The gate's fresh status reads, on a connection of their own: on the command connection a read
   * queued behind the other jobs' Lua steps, and a request's place stayed idle meanwhile.
   */
  readonly #gate: BatchStore;
  readonly #gateConnection: ScriptClient;
  /** Published status changes: a request that waited for a place skips the fresh read if none came. */
  readonly #feed: StatusFeed;
  #timer: NodeJS.Timeout | undefined;
  /** Redis clock minus this machine's, refreshed every poll: windows are judged on the Redis clock. */
  #clockOffset = 0;
  #polling: Promise<void> | undefined;
  #closed = false;
  /** Settles once the batch this process created (`created`) has its first jobs under way; see `ramped`. */
  #rampedUp!: () => void;
  readonly #ramped = new Promise<void>((resolve) => (this.#rampedUp = resolve));
  /** This process's name in the heartbeats. */
  readonly #id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;

  constructor(options: WorkerPoolOptions) {
    // A full Redis refuses every write of every job and poll: said once a while, not once a write.
    const said = (error: Error) => (options.log?.error({ error: error.message }, 'worker error'), options.onError?.(error));
    this.#options = { ...options, onError: quietRepeats(said, isRedisFull, 30_000) };
    this.#command = connectRedis(options.redisUrl);
    this.store = new BatchStore(this.#command, options.prefix);
    this.#gateConnection = connectRedis(options.redisUrl);
    this.#gate = new BatchStore(this.#gateConnection, options.prefix);
    this.#feed = this.store.openStatusFeed(options.redisUrl);
    warmCompression(); // the first agents' snapshots need not wait ~50 ms for the thread
    this.#limit = pLimit(options.concurrency ?? 8);
    // Every job waiting for a rate slot listens to these: as many listeners as jobs in flight, not a leak.
    setMaxListeners(0, this.#stopping.signal, this.#shutdown.signal);
  }

  /**
   * Settles once the runner of `created` has started as many jobs as it keeps at once, or found the
   * queue empty (or this pool stops, or does not work the batch at once): the submit in the same process
   * writes the rest of the batch's jobs from then on (create-batch.ts).
   */
  get ramped(): Promise<void> {
    return this.#ramped;
  }

  async start(): Promise<void> {
    const made = this.#options.created;
    if (made?.kind === 'rollout' && made.status === 'running' && !made.startAt && !made.window && !made.deadline) this.#runners.set(made.id, this.#startRunner(made, undefined, this.#options.firstJobs));
    else this.#rampedUp(); // not worked at once: nothing for the submit to wait for
    if (!this.#options.batchIds?.length) await this.store.relistActive();
    await this.#poll();
    const tick = () => {
      this.#polling = this.#poll()
        .catch((error: Error) => this.#options.onError?.(error))
        .finally(() => {
          if (!this.#closed) this.#timer = setTimeout(tick, this.#options.pollMs ?? 1000);
        });
    };
    this.#timer = setTimeout(tick, this.#options.pollMs ?? 1000);
  }

  async #poll(): Promise<void> {
    // Before the heartbeat (a write): a Redis nearly full halts the batches served, while it still can.
    for (const { batchId, reason } of await haltIfNearlyFull(this.store, [...this.#runners.keys()])) this.#options.log?.error({ batch: batchId, reason }, 'batch halted: Redis is out of memory');
    const now = await this.store.now();
    this.#clockOffset = now - Date.now();
    // The heartbeat: `status` tells a batch nobody serves (SPEC §13). It outlives a few missed polls.
    await this.store
      .beat({ id: this.#id, host: hostname(), pid: process.pid, ...(this.#options.batchIds?.length ? { batches: [...this.#options.batchIds] } : {}), runVerify: this.#options.runVerify ?? false }, now, HEARTBEAT_TTL_MS)
      .catch((error: unknown) => {
        if (!isRedisFull(error)) throw error; // a full Redis: the poll goes on to read (and halt) its batches
      });
    // Only the batches listed active (and the ones this pool runs, which another worker may have
    // dropped from that list already): an idle worker's poll does not grow with the batch history.
    const ids = this.#options.batchIds?.length ? this.#options.batchIds : [...new Set([...(await this.store.listActiveBatchIds()), ...this.#runners.keys()])];
    for (const id of ids) {
      if (this.#closed) return;
      const meta = await this.store.getBatch(id);
      // A batch cut by its deadline is stepped until its remaining agents are skipped (controller.ts).
      const active = meta !== undefined && (!FINAL_BATCH_STATUSES.has(meta.status) || meta.deadlineSkipping === true);
      // A batch gone (pruned) has no creation time left; one recreated meanwhile is listed as new.
      if (!active && !this.#options.batchIds?.length) await this.store.dropIfFinal(id, meta?.createdAt ?? Date.now());
      const runner = this.#runners.get(id);
      if (active && !runner) {
        // A rollback needs its origin: which status marks the agents the origin changed.
        const origin = meta.rollbackOf ? await this.store.getBatch(meta.rollbackOf) : undefined;
        this.#runners.set(id, this.#startRunner(meta, origin));
      } else if (!active && runner) {
        this.#runners.delete(id);
        // (Not for a batch gone from Redis: a counter written now would be a key of nothing.)
        if (meta) await runner.requests.flush().catch(() => {});
        if (!meta) this.#options.onError?.(new Error(`batch ${id} is gone from Redis while this worker served it (restarted without its data, flushed, or evicted): its agents' records and before snapshots there are lost; this worker stops serving it`));
        // Before the runner stops: closing a BullMQ worker can take a while.
        if (meta && (meta.status === 'completed' || meta.status === 'completed_with_failures')) {
          await notify(this.store, meta, 'completed', { event: 'completed' }, (error) => this.#options.onError?.(error));
        }
        await runner.worker.close().finally(() => runner.connection.disconnect());
      } else if (runner && meta) runner.update(meta);
      // Move staged rollouts along and act on halts (whichever worker holds the batch's lock does it).
      if (active) {
        const calls = this.#runners.get(id)?.calls;
        await this.#runners.get(id)?.requests.flush().catch((error: unknown) => {
          if (!isRedisFull(error)) throw error;
        });
        const events = await stepBatch(this.store, id, { runVerify: this.#options.runVerify ?? false, ...(calls ? { calls } : {}), onError: (error) => this.#options.onError?.(error) });
        for (const event of events) {
          this.#options.log?.info({ batch: id, ...event }, `batch ${event.kind.replace('_', ' ')}`);
          if (event.kind === 'halted') this.#options.metrics?.halts.inc({ batch: id, reason: parseHalt(event.reason).kind });
        }
      }
    }
  }

  /** A place among this process's requests in flight (ProcessorDeps.inFlight), shared by its batches. */
  readonly #inFlight = <T>(send: (queued: boolean) => Promise<T>): Promise<T> => {
    // Counted before the call: p-limit starts even a free place's function a microtask later.
    const queued = this.#limit.activeCount + this.#limit.pendingCount >= this.#limit.concurrency;
    return this.#limit(() => send(queued));
  };

  #startRunner(meta: BatchMeta, origin: BatchMeta | undefined, firstJobs?: Promise<void>): Runner {
    const { store } = this;
    const batchId = meta.id;
    const metrics = this.#options.metrics;
    const limit = this.#limit;
    const { deps, limiter, requests, latest, update } = batchDeps({ store, gate: this.#gate, statusVersion: () => this.#feed.version(), meta, origin, client: this.#options.client, inFlight: this.#inFlight, stop: this.#stopping.signal, ...(this.#options.journal ? { journal: this.#options.journal } : {}), clockOffset: () => this.#clockOffset, ...(metrics ? { metrics } : {}) });
    const connection = connectRedis(this.#options.redisUrl, { blocking: true });
    /**
     * The batch's jobs run at once (jobs-in-flight.ts), reached one job at a time: BullMQ's loop fetches
     * one job after another and starts none until it holds `concurrency` (a cold run's first 31 jobs
     * waited ~130 ms for the 32nd). From 1, raised as each job starts, each starts once fetched.
     */
    let jobs = jobsInFlight(limit.concurrency, meta.options.rate);
    const worker = new Worker<AgentJobData>(
      QUEUE_NAME,
      // BullMQ's own abort signal (its cancelJob, which nova-fleet never calls) is not listened to:
      // AbortSignal.any of it and the shutdown cost ~40 µs per job on Node 20.
      async (job: Job<AgentJobData>, token?: string) => {
        // Raised here, inside BullMQ's loop (processJob calls this before any await): its next look counts it.
        if (worker.concurrency < jobs) worker.concurrency += 1;
        else if (batchId === this.#options.created?.id) this.#rampedUp();
        // A job fetched ahead but not started when the pool began closing goes back to the queue
        // at once (for this or another worker), rather than being started during shutdown.
        if (this.#closed) {
          await job.moveToDelayed(Date.now(), token);
          throw new DelayedError();
        }
        const { orgId, agentId } = splitAgentKey(job.data.k);
        const ids = { batch: batchId, org: orgId, agent: agentId, line: job.data.l };
        try {
          const outcome = await processAgentJob(deps, job, token, this.#shutdown.signal);
          if (outcome === 'already_done') this.#options.log?.debug({ ...ids, status: outcome }, 'agent already finished');
          else {
            this.#options.log?.info({ ...ids, status: outcome, attempt: job.attemptsMade + 1 }, `agent ${outcome}`);
            metrics?.agents.inc({ batch: batchId, outcome });
          }
          metrics?.rate.set({ batch: batchId }, limiter.effectiveRate);
          if (latest().waves) metrics?.wave.set({ batch: batchId }, (latest().wave ?? 0) + 1);
          return outcome;
        } catch (error) {
          if (error instanceof DelayedError) this.#options.log?.debug(ids, 'agent deferred');
          else this.#options.log?.warn({ ...ids, attempt: job.attemptsMade + 1, error: (error as Error).message }, 'attempt failed; retried after backoff');
          throw error;
        }
      },
      {
        connection,
        prefix: store.queuePrefix(batchId),
        concurrency: 1,
        autorun: firstJobs === undefined,
        maxStalledCount: 5,
        lockDuration: this.#options.lockDurationMs ?? 30_000,
        stalledInterval: this.#options.stalledIntervalMs ?? 30_000,
        settings: { backoffStrategy: (attemptsMade: number, _type?: string, error?: Error) => backoffDelay(attemptsMade, error, meta.options) },
      },
    );
    // Jobs BullMQ fails by itself (a stall past the limit) are recorded by the controller (lost-jobs.ts).
    worker.on('error', (error) => this.#options.onError?.(error));
    // Fewer jobs in the queue than the runner keeps at once: it has all there are (see `ramped`).
    if (batchId === this.#options.created?.id) worker.once('drained', () => this.#rampedUp());
    // Connected now, looking for jobs once the first are there (as BullMQ's autorun; not once closing).
    void firstJobs?.then(() => (this.#closed ? undefined : worker.run().catch((error: Error) => worker.emit('error', error))));
    return {
      worker,
      connection,
      update: (next) => {
        update(next);
        // A submit of the same batch may change its --rate: the jobs kept follow (down now, up as jobs start).
        jobs = jobsInFlight(limit.concurrency, next.options.rate);
        if (worker.concurrency > jobs) worker.concurrency = jobs;
      },
      calls: callsReader(this.#options.client, limiter, this.#stopping.signal, () => requests.count('calls')),
      requests,
    };
  }

  /**
   * Stop taking work, now (synchronously, e.g. from a signal handler): no job starts and no request is
   * sent from here on; jobs waiting for a rate slot go back to the queue. Requests already sent finish.
   */
  stop(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#rampedUp();
    if (this.#timer) clearTimeout(this.#timer);
    this.#stopping.abort(new Error('worker stopping'));
  }

  /** Stop taking jobs; let in-flight ones finish within `graceMs`, then abort them. Safe to call twice. */
  close(graceMs = 30_000): Promise<void> {
    this.stop();
    return (this.#closing ??= this.#close(graceMs));
  }

  async #close(graceMs: number): Promise<void> {
    await this.#polling?.catch(() => {});
    const runners = [...this.#runners.values()];
    this.#runners.clear();
    const closing = Promise.all(runners.map((r) => r.worker.close()));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      closing.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.#shutdown.abort(new Error('worker shutting down'));
      await Promise.all(runners.map((r) => r.worker.close(true)));
    }
    for (const runner of runners) runner.connection.disconnect();
    // The last requests counted go to the batches' counters (a Redis that is gone keeps them from it).
    await Promise.all(runners.map((r) => r.requests.flush().catch(() => {})));
    // Events queued by this process's controller steps go out before it ends (bounded: a few tries).
    await flushNotifications();
    await this.store.leave(this.#id).catch(() => {});
    await this.#options.journal?.close();
    this.#command.disconnect();
    this.#gateConnection.disconnect();
    this.#feed.close();
  }
}
