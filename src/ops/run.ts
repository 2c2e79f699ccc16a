/**
 * Working a batch in this process (`run`, `apply --run`, `rollback --run`, `resume --run`): an
 * in-process worker pool, the batch read every 250 ms for the caller's progress display, the final
 * events sent, the exit code (SPEC §6) and an automatic rollback after a gate's halt.
 */
import type { NovaClient } from '../api/client.js';
import { viewBatch, type BatchView } from '../views/batch-view.js';
import { WorkerPool } from '../worker/worker-pool.js';
import { EXIT_CODES, InfraError, type ExitCode } from '../errors.js';
import { FINAL_BATCH_STATUSES } from '../batch/lifecycle.js';
import type { BatchMeta } from '../batch/records.js';
import { stepBatch } from '../controller/controller.js';
import { flushNotifications, notify } from '../controller/hooks.js';
import type { Metrics } from '../metrics.js';
import { GATE_HALTS, haltKind, haltRule, INFRA_HALTS } from '../batch/halt.js';
import { closePool, openStore, type StoreContext } from './context.js';
import { apiClient, startMetrics } from './api-context.js';
import { NO_PROGRESS, type Notes } from './notes.js';
import { submitWith, type SubmitFlags } from './submit.js';
import type { OnCreated, SubmitResult } from './create-batch.js';
import { redisAway } from './redis-errors.js';
import { defaultJournalPath, Journal } from '../journal/journal.js';
import { isRedisFull } from '../store/redis-memory.js';

/**
 * Submit and work the batch in this process until it ends (or `until` resolves). The worker starts as
 * soon as the batch exists, so its first agents are worked while the rest are still being enqueued.
 */
export async function runBatch(ctx: StoreContext, client: NovaClient, file: string, flags: SubmitFlags, notes: Notes, until: Promise<unknown>, metrics?: Metrics): Promise<{ view: BatchView; interrupted: boolean }> {
  return (await runSubmitted(ctx, client, (c, onCreated) => submitWith(c, file, flags, notes, onCreated, 'run'), notes, until, metrics))!;
}

/** As runBatch, with the batch made by `submit`; undefined when it had nothing to do. */
export async function runSubmitted(ctx: StoreContext, client: NovaClient, submit: Submitter, notes: Notes, until: Promise<unknown>, metrics?: Metrics): Promise<{ view: BatchView; interrupted: boolean } | undefined> {
  let early: Promise<WorkerPool> | undefined;
  let submitted;
  try {
    submitted = await submit(ctx, (meta, firstJobs) => {
      early = startPool(ctx, client, meta, notes, metrics, firstJobs);
      early.catch(() => {}); // awaited below
      // The rest of the jobs are written once the pool has its first ones under way (or could not start).
      return early.then(
        (pool) => pool.ramped,
        () => undefined,
      );
    });
  } catch (error) {
    if (early) await (await early.catch(() => undefined))?.close();
    throw error;
  }
  if (!submitted) return undefined;
  return workBatch(ctx, client, submitted.meta, notes, until, metrics, early);
}

/** Makes the batch (`submit` of a manifest, `apply` of a plan); undefined when there is nothing to do. */
export type Submitter = (ctx: StoreContext, onCreated: OnCreated) => Promise<SubmitResult | undefined>;

/** The in-process worker, for the batch `meta` (just created, or to carry on with). */
function startPool(ctx: StoreContext, client: NovaClient, meta: BatchMeta, notes: Notes, metrics?: Metrics, firstJobs?: Promise<void>): Promise<WorkerPool> {
  const pool = new WorkerPool({
    redisUrl: ctx.target.url,
    prefix: ctx.config.prefix,
    client,
    concurrency: ctx.config.concurrency,
    batchIds: [meta.id],
    ...(firstJobs ? { created: meta, firstJobs } : {}),
    pollMs: 250,
    // This process submitted the batch and its command: it may run its verification.
    runVerify: true,
    ...(metrics ? { metrics } : {}),
    onError: (error) => notes.note(`worker: ${error.message}`),
    // Every original also lands in a local file (issue 25): Redis losing the batch loses none of them.
    ...(ctx.journal === false ? {} : { journal: new Journal(ctx.journal ?? defaultJournalPath(meta.id), ctx.config.prefix) }),
  });
  // A start that fails (Redis full or away at its first poll) closes what it opened: nothing lingers.
  return pool.start().then(
    () => pool,
    async (error: unknown) => {
      await pool.close();
      throw error;
    },
  );
}

/**
 * The batch, read again — or exit 3 if its records are gone from Redis while it ran (a restart without
 * its data, a flush, an eviction): said loudly, instead of a crash or a wait for agents nobody can
 * finish. What the API already changed is named as what to check.
 */
async function requireStill(ctx: StoreContext, batchId: string): Promise<BatchMeta> {
  const meta = await ctx.store.getBatch(batchId);
  if (meta) return meta;
  throw new InfraError(
    `batch ${batchId} is gone from Redis while it ran (Redis restarted without its data, was flushed, or evicted keys): its agents' records and before snapshots there are lost`,
    'agents it had already changed stay changed: check them against your own records before running the manifest again (the API holds no earlier version); keep Redis with `appendonly yes` and `maxmemory-policy noeviction`',
  );
}

const STOPPED = Symbol('stopped');

/** Agents left when the progress loop starts to look every 20 ms instead of every 250 ms. */
const FINISHING_AGENTS = 64;

/** Work an existing batch in this process, with the progress display, until it ends or `until`. */
export async function workBatch(ctx: StoreContext, client: NovaClient, meta: BatchMeta, notes: Notes, until: Promise<unknown>, metrics?: Metrics, started?: Promise<WorkerPool>): Promise<{ view: BatchView; interrupted: boolean }> {
  const batchId = meta.id;
  const pool = await (started ?? startPool(ctx, client, meta, notes, metrics));
  const progress = notes.progress?.() ?? NO_PROGRESS;
  let interrupted = false;
  // At once, not at the next refresh: after Ctrl-C returns, no request starts (SPEC §13).
  void until.then(() => {
    interrupted = true;
    pool.stop();
  });
  const stopped = until.then(() => STOPPED);
  // The rate shown is over the last few samples, not since creation.
  const samples: Array<{ done: number; at: number }> = [];
  let view = await viewBatch(ctx.store, meta);
  let awaySaid = 0;
  /** The last read met a Redis that is not answering. */
  let redisDown = false;
  try {
    while (!interrupted && (!FINAL_BATCH_STATUSES.has(view.meta.status) || view.meta.deadlineSkipping) && view.meta.status !== 'halted') {
      // The last few agents are watched closely: the command ends right after the batch does (at 250 ms
      // a cold run's end waited ~100 ms for its next look).
      const closing = view.meta.status === 'running' && view.meta.total - view.done <= FINISHING_AGENTS;
      await new Promise((resolve) => setTimeout(resolve, closing ? 20 : 250));
      try {
        // Raced with Ctrl-C: with Redis away a read takes seconds to give up, and Ctrl-C ends the wait.
        const read = await Promise.race([(async () => viewBatch(ctx.store, await requireStill(ctx, batchId), samples[0]))(), stopped]);
        if (read === STOPPED) break;
        view = read as BatchView;
        redisDown = false;
      } catch (error) {
        // Redis restarting (refused, loading its data, a command out of retries) is waited for: the
        // workers carry on once it is back. Anything else — a vanished batch included — ends the run.
        if (!redisAway(error)) throw error;
        redisDown = true;
        if (Date.now() - awaySaid > 30_000) {
          notes.note(`run: Redis is not answering (${(error as Error).message.slice(0, 120)}); waiting for it — Ctrl-C stops`);
          awaySaid = Date.now();
        }
        continue;
      }
      samples.push({ done: view.done, at: Date.now() });
      if (samples.length > 20) samples.shift();
      progress.update(view);
    }
  } finally {
    progress.stop();
    await closePool(pool, redisDown ? 1_000 : 30_000, redisDown ? 1_000 : 3_000);
  }
  // Interrupted while Redis does not answer: said, and the last view stands (the batch stays as it is).
  const final = interrupted && redisDown ? await Promise.race([requireStill(ctx, batchId).catch(() => undefined), new Promise<undefined>((resolve) => void setTimeout(() => resolve(undefined), 2000).unref())]) : await requireStill(ctx, batchId);
  if (!final) {
    notes.note(`run: Redis is not answering: what follows is batch ${batchId} as last read`);
    return { view, interrupted };
  }
  // The pool stops with the batch; the last events (halt, completion) are sent from here.
  // A full Redis may refuse the halt's queue pause: the halt itself is recorded (redis-full.ts).
  if (final.status === 'halted') await stepBatch(ctx.store, batchId, { onError: (error) => notes.note(error.message) }).catch((error: unknown) => {
    if (!isRedisFull(error)) throw error;
  });
  if (final.status === 'completed' || final.status === 'completed_with_failures') await notify(ctx.store, final, 'completed', { event: 'completed' }, (error) => notes.note(error.message));
  await flushNotifications();
  return { view: await viewBatch(ctx.store, final), interrupted };
}

/**
 * SPEC §6: 3 when the batch stopped for infrastructure (a refused key, an API that is down); 1 when the
 * work ran but not all of it as asked (failures, conflicts, a halt, a cancel or deadline that skipped
 * agents, an interrupted run); 0 only when every agent ended as the manifest says.
 */
export function exitCodeOf(view: BatchView, interrupted: boolean): ExitCode {
  if (view.meta.status === 'halted' && INFRA_HALTS.has(haltKind(view.meta) ?? 'other')) return EXIT_CODES.infra;
  if (interrupted || view.meta.status === 'halted' || view.meta.status === 'cancelled') return EXIT_CODES.failed;
  if (view.counts.failed > 0 || view.counts.conflict > 0 || view.counts.skipped > 0) return EXIT_CODES.failed;
  return EXIT_CODES.ok;
}

/** How long `run` waits for another worker that is creating the automatic rollback. */
const ROLLBACK_CREATION_WAIT_MS = 60_000;

/**
 * The automatic rollback of a batch halted by a gate with --auto-rollback, created here if no worker
 * has yet. Its creation cancels the origin, so the origin may read `halted` or already `cancelled` (by
 * this process's controller or another worker's): both are the same halt, and the rollback is worked.
 */
export async function automaticRollback(ctx: StoreContext, origin: BatchMeta, until: Promise<unknown>): Promise<BatchMeta | undefined> {
  if (!origin.autoRollback || !GATE_HALTS.has(haltKind(origin) ?? 'other')) return undefined;
  if (origin.status !== 'halted' && origin.status !== 'cancelled') return undefined;
  let stopped = false;
  void until.then(() => (stopped = true));
  const deadline = Date.now() + ROLLBACK_CREATION_WAIT_MS;
  for (;;) {
    // Creates it (once: the field is claimed first) if the origin is still halted without one.
    await stepBatch(ctx.store, origin.id);
    const id = (await ctx.store.getBatch(origin.id))?.autoRollbackId;
    if (id && id !== 'creating') return ctx.store.getBatch(id);
    // Cancelled by hand, not by a rollback's creation: nothing to undo automatically.
    if (!id && origin.status === 'cancelled') return undefined;
    if (stopped || Date.now() > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** What `run` (and `apply --run`) ended with: the batch, its exit code (SPEC §6), an automatic rollback. */
export interface RunOutcome {
  exitCode: ExitCode;
  /** The batch as it ended; undefined when there was nothing to do (a plan that changes no agent). */
  view?: BatchView;
  interrupted: boolean;
  /** The automatic rollback worked after a gate's halt (`--auto-rollback`), as it ended. */
  rollback?: BatchView;
}

/**
 * Makes the batch with `submit`, then works it here until it ends: `run`, and `apply --run`.
 * `onEnded` hears the batch as it ended before an automatic rollback starts (the CLI prints it then).
 */
export async function runWith(submit: Submitter, flags: SubmitFlags, notes: Notes, until: Promise<unknown>, onEnded?: (view: BatchView) => void): Promise<RunOutcome> {
  const ctx = await openStore(flags);
  try {
    apiClient(ctx.config).close(); // before anything else: no batch without a key to run it
    const served = await startMetrics(flags.metricsPort, (line) => notes.note(line));
    const client = apiClient(ctx.config, served?.metrics.observeResponse);
    try {
      const ran = await runSubmitted(ctx, client, submit, notes, until, served?.metrics);
      if (!ran) return { exitCode: EXIT_CODES.ok, interrupted: false };
      const { view, interrupted } = ran;
      if (interrupted) notes.note(`run: interrupted; batch ${view.meta.id} stays ${view.meta.status} — any \`nova-fleet worker\` carries on with it`);
      onEnded?.(view);
      const outcome: RunOutcome = { exitCode: exitCodeOf(view, interrupted), view, interrupted };
      const rollback = interrupted ? undefined : await automaticRollback(ctx, view.meta, until);
      if (rollback) {
        notes.note(`run: ${haltRule(view.meta)?.says ?? 'halted'} — rolling back what was applied (batch ${rollback.id})`);
        const undo = await workBatch(ctx, client, rollback, notes, until);
        outcome.rollback = undo.view;
      }
      return outcome;
    } finally {
      client.close();
      await served?.close();
    }
  } finally {
    ctx.close();
  }
}

/** `run MANIFEST`: submits it and works the batch here until it ends. */
export function runManifest(file: string, flags: SubmitFlags, notes: Notes, until: Promise<unknown>, onEnded?: (view: BatchView) => void): Promise<RunOutcome> {
  return runWith((ctx, onCreated) => submitWith(ctx, file, flags, notes, onCreated, 'run'), flags, notes, until, onEnded);
}
