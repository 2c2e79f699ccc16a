/**
 * One agent's job (SPEC §4). Delivery is at-least-once (crashes, stalls, retries), so every step is
 * safe to repeat:
 *   1. read the agent; record the before snapshot once — the first attempt's, never overwritten;
 *   2. compute the desired state from that *first* before snapshot (so `$replace` applies once);
 *   3. if the agent already carries it, send nothing: `unchanged` if the before snapshot had it,
 *      `applied` if an earlier attempt did (a PATCH whose reply was lost);
 *   4. else PATCH the fields that differ, each in full, and check the reply carries the desired values;
 *   5. record the after snapshot and the final status, keeping the counters (one Lua step).
 * Pause and cancel are checked before each request; rate-limit waits never use up an attempt.
 */
import { DelayedError, type Job } from 'bullmq';
import type { NovaClient } from '../api/client.js';
import { NovaApiError } from '../api/errors.js';
import { isDeepStrictEqual } from 'node:util';
import type { Agent, Json } from '../api/types.js';
import { carriesDesired, desiredState } from '../patch/desired.js';
import { fileRefs, resolvePatch } from '../patch/resolve.js';
import type { RowPatch } from '../patch/types.js';
import type { AgentStatus, BatchOptions, BatchStatus, BatchStore } from '../store/batch-store.js';
import { splitAgentKey } from '../store/keys.js';
import type { AgentJobData } from './jobs.js';
import type { RateLimiter } from './rate-limiter.js';
import { conflictingFields, rollbackPlan, type RollbackPlan } from './rollback.js';

/**
 * Final outcomes may replace `skipped`: a cancel marks pending agents skipped, and one whose request was
 * already in flight must end as what really happened to it, never hide a change.
 */
const FROM: readonly AgentStatus[] = ['pending', 'skipped'];

/** Consecutive 429s one request may meet before its attempt fails like any retryable error. */
const MAX_RATE_LIMIT_WAITS = 30;
/** How long a job of a paused (or otherwise waiting) batch is put back for before it looks again. */
export const DEFER_MS = 1000;
/**
 * An agent's lease lasts this long without renewal: longer than any one job (two requests of at most
 * 30 s each plus rate waits), short enough that a dead worker's lease frees the agent soon.
 */
export const LEASE_MS = 5 * 60_000;

export interface ProcessorDeps {
  store: BatchStore;
  client: NovaClient;
  batchId: string;
  options: BatchOptions;
  limiter: RateLimiter;
  /** The batch's status, cached briefly by the caller; `fresh` reads Redis now. */
  batchStatus: (fresh?: boolean) => Promise<BatchStatus>;
  /** A 401/403 was met; the caller halts the batch when they repeat. */
  onAuthFailure: (error: NovaApiError) => Promise<void>;
  patch: (digest: string) => Promise<RowPatch>;
  file: (path: string) => Promise<string>;
  /** True when the batch's start, window or deadline forbids a request now (judged on the Redis clock). */
  scheduleClosed?: () => boolean;
  /** Set for a rollback batch: the batch it undoes, the status its changed agents carry, --force. */
  rollback?: { of: string; changed: AgentStatus; force: boolean };
}

export type JobOutcome = AgentStatus | 'deferred' | 'already_done';

/** What the job must bring the agent to — or a final status decided without any request. */
type Target = { desired: Record<string, Json>; changed: string[] } | { done: { status: AgentStatus; error?: string } };

/** A rollout: the row's patch applied to the first before snapshot. */
async function rolloutTarget(deps: ProcessorDeps, job: Job<AgentJobData>, before: Agent): Promise<Target> {
  const rowPatch = job.data.i ?? (await deps.patch(job.data.p!));
  const texts = new Map<string, string>();
  for (const ref of fileRefs(rowPatch)) texts.set(ref, await deps.file(ref));
  const desired = desiredState(before, resolvePatch(rowPatch, job.data.v ?? {}, (ref) => texts.get(ref)!));
  if (!desired.ok) return { done: { status: 'failed', error: `patch cannot apply: ${desired.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}` } };
  return { desired: desired.desired, changed: Object.keys(desired.body) };
}

/** A rollback: the origin's touched fields back to its before snapshot, unless someone changed them since. */
function rollbackTarget(deps: ProcessorDeps, plan: Extract<RollbackPlan, { kind: 'restore' }>, before: Agent, current: Agent): Target {
  const { of, force } = deps.rollback!;
  const changed = plan.fields.filter((field) => !isDeepStrictEqual(before[field], plan.desired[field]));
  // Already as it was (restored by an earlier attempt of this job, or never different): no conflict.
  if (carriesDesired(current, plan.desired).length > 0 && !force) {
    // Judged on this job's first before snapshot, so a retry after our own PATCH is not a "conflict".
    const conflicts = conflictingFields(before, plan.expected);
    if (conflicts.length > 0) return { done: { status: 'conflict', error: `changed since batch ${of}: ${conflicts.join(', ')} (left alone; --force restores anyway)` } };
  }
  return { desired: plan.desired, changed };
}

class Deferred extends Error {}

/** Why the agent failed, in one line: the server's words where it gave any. */
function reason(error: unknown): string {
  if (error instanceof NovaApiError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

export async function processAgentJob(deps: ProcessorDeps, job: Job<AgentJobData>, token?: string, signal?: AbortSignal): Promise<JobOutcome> {
  const { store, batchId, client, limiter } = deps;
  const key = job.data.k;
  const { orgId, agentId } = splitAgentKey(key);

  /**
   * Stop before a request if the batch may not make one now. Before a PATCH the status is read fresh:
   * a pause, a cancel or an exhausted error budget must stop every change not yet sent.
   */
  const gate = async (fresh = false): Promise<'go' | 'cancelled'> => {
    const status = await deps.batchStatus(fresh);
    if (status === 'cancelled') return 'cancelled';
    if (status !== 'running') throw new Deferred(status);
    // The controller closes a window within a poll; the request itself must not start outside it.
    if (deps.scheduleClosed?.()) throw new Deferred('outside its window');
    return 'go';
  };

  /**
   * One API call within the batch's budget; 429s wait (shared by the batch) without using an attempt.
   * `reserved` is a slot already being acquired (the first GET's, reserved alongside beginAttempt).
   */
  const call = async <T>(fn: () => Promise<T>, reserved?: Promise<void>): Promise<T> => {
    for (let waits = 0; ; waits++) {
      await (waits === 0 && reserved ? reserved : limiter.acquire(signal));
      try {
        return await fn();
      } catch (error) {
        if (error instanceof NovaApiError && error.kind === 'rate_limited' && waits < MAX_RATE_LIMIT_WAITS) {
          await limiter.penalize(error.retryAfterMs ?? 1000);
          continue;
        }
        throw error;
      }
    }
  };

  // Three independent commands in one round trip: the job's status (an attempt counted), the GET's slot
  // (always needed unless the agent is done) and the agent's lease (one change at a time per agent).
  const firstSlot = quiet(limiter.acquire(signal));
  const leaseTaken = quiet(store.takeLease(batchId, key, LEASE_MS));
  const status = await store.beginAttempt(batchId, key);
  const holder = await leaseTaken;
  // Released once: as soon as the agent's change is made (while it is recorded), or on any way out.
  let released: Promise<void> | undefined;
  const release = () => (released ??= holder === undefined ? store.releaseLease(batchId, key) : Promise.resolve());
  if (status !== 'pending') {
    await release();
    return 'already_done'; // finished by an earlier delivery, or cancelled
  }
  // Another running batch working on the agent now makes this one wait.
  if (holder !== undefined) {
    await job.moveToDelayed(Date.now() + DEFER_MS, token);
    throw new DelayedError();
  }
  try {
    if ((await gate()) === 'cancelled') {
      await store.finish(batchId, key, 'skipped', 'pending', { error: 'batch cancelled' });
      return 'skipped';
    }
    // A rollback knows from the origin's record alone whether there is anything to restore: an agent
    // the origin never changed costs no request at all.
    const plan = deps.rollback ? rollbackPlan(deps.rollback.of, deps.rollback.changed, await store.agentRecord(deps.rollback.of, key)) : undefined;
    if (plan && plan.kind !== 'restore') {
      const outcome: AgentStatus = plan.kind === 'nothing' ? 'unchanged' : 'failed';
      await store.finish(batchId, key, outcome, FROM, { error: plan.reason, ...(outcome === 'failed' ? { job: job.data } : {}) });
      return outcome;
    }
    const current = await call(() => client.getAgent(orgId, agentId, signal ? { signal } : {}), firstSlot);
    const targetFrom = async (before: Agent) => (plan ? rollbackTarget(deps, plan, before, current) : rolloutTarget(deps, job, before));
    // On a first attempt the before snapshot is the agent as just read, so the target is known before
    // the snapshot is stored: the fresh status read and the PATCH's slot go out with the snapshot.
    const guess = await targetFrom(current);
    const guessDifferent = 'done' in guess ? [] : carriesDesired(current, guess.desired);
    const ahead = guessDifferent.length > 0 ? { status: quiet(gate(true)), slot: quiet(limiter.acquire(signal)) } : undefined;
    const saved = await store.saveBefore(batchId, key, current);
    // A later attempt: the target comes from the first attempt's snapshot (so `$replace` applies once).
    const before = saved.first ? current : saved.before;
    const target = saved.first ? guess : await targetFrom(before);
    if ('done' in target) {
      const { status: outcome, error } = target.done;
      await store.finish(batchId, key, outcome, FROM, { before, after: current, ...(error ? { error } : {}), ...(outcome === 'failed' ? { job: job.data } : {}) });
      return outcome;
    }
    const { desired, changed } = target;
    const success: AgentStatus = deps.rollback ? 'restored' : 'applied';
    // What still differs on the agent as it is now (an earlier attempt may have applied some or all).
    const stillDifferent = target === guess ? guessDifferent : carriesDesired(current, desired);
    if (stillDifferent.length === 0) {
      const outcome: AgentStatus = changed.length === 0 ? 'unchanged' : success;
      await store.finish(batchId, key, outcome, FROM, { before, after: current, changed });
      return outcome;
    }
    // Read fresh before a change: a pause, a cancel or an exhausted error budget stops it.
    if ((await (ahead?.status ?? gate(true))) === 'cancelled') {
      await store.finish(batchId, key, 'skipped', 'pending', { before, after: current, error: 'batch cancelled' });
      return 'skipped';
    }
    const body = Object.fromEntries(stillDifferent.map((field) => [field, desired[field]!]));
    const after = await call(() => client.patchAgent(orgId, agentId, body, signal ? { signal } : {}), ahead?.slot);
    // The change is made: the lease goes while the outcome is recorded (awaited in `finally`).
    quiet(release());
    const missing = carriesDesired(after, desired);
    if (missing.length > 0) {
      await store.finish(batchId, key, 'failed', FROM, { before, after, changed, error: `not_applied: the reply does not carry ${missing.join(', ')}`, job: job.data });
      return 'failed';
    }
    await store.finish(batchId, key, success, FROM, { before, after, changed });
    return success;
  } catch (error) {
    if (error instanceof Deferred) {
      await job.moveToDelayed(Date.now() + DEFER_MS, token);
      throw new DelayedError();
    }
    if (error instanceof NovaApiError && error.kind === 'auth') await deps.onAuthFailure(error);
    const attempt = job.attemptsMade + 1;
    // Anything that is not the API's verdict (Redis briefly away, our own shutdown) is worth another attempt.
    const retryable = error instanceof NovaApiError ? error.retryable : true;
    if (retryable && attempt < (job.opts.attempts ?? deps.options.attempts)) {
      await store.noteError(batchId, key, reason(error));
      throw error; // BullMQ retries it after the backoff (backoff.ts), as a new attempt
    }
    const before = await store.loadBefore(batchId, key);
    await store.finish(batchId, key, 'failed', FROM, { ...(before ? { before } : {}), error: reason(error), job: job.data });
    return 'failed';
  } finally {
    await release();
  }
}

/**
 * A promise started now and awaited later, marked handled: a rejection (an abort, a Deferred) before
 * it is awaited must not be reported as unhandled. Awaiting it still throws.
 */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}
