/**
 * One agent's job (SPEC §4). Delivery is at-least-once (crashes, stalls, retries), so every step is
 * safe to repeat:
 *   1. read the agent; record the before snapshot once — the first attempt's, never overwritten;
 *   2. compute the desired state from that *first* before snapshot (so `$replace` applies once);
 *   3. if the agent already carries it, send nothing: `unchanged` if the before snapshot had it,
 *      `applied` if an earlier attempt did (a PATCH whose reply was lost);
 *   4. else PATCH the fields that differ, each in full, and check the reply carries the desired values;
 *   5. record the after snapshot and the final status, keeping the counters, and release the agent's
 *      lease (one Lua step on a single Redis).
 * Before each request — after its waits for a rate slot and for a place among the worker's in-flight
 * requests — the gate checks the worker's shutdown, the batch's status, window and deadline; waits and
 * deferrals never use up an attempt.
 */
import { DelayedError } from 'bullmq';
import { redactedFields } from '../api/client.js';
import type { AgentJob, ProcessorDeps } from './job-ports.js';
import { looksDown, NovaApiError } from '../api/errors.js';
import { isDeepStrictEqual } from 'node:util';
import type { Agent } from '../api/types.js';
import { carriesDesired } from '../patch/desired.js';
import { isWritableField } from '../patch/fields.js';
import type { AgentJobSpec } from '../batch/job.js';
import type { AgentStatus } from '../batch/lifecycle.js';
import type { FinishRecord } from '../store/agent-records.js';
import { splitAgentKey } from '../store/keys.js';
import { backoffDelay } from '../batch/backoff.js';
import { restoration } from '../batch/restore-plan.js';
import { checkTarget, rollbackTarget, rolloutTarget, jobSpec } from './targets.js';
import { unmetExpectation, type Expectation } from '../patch/expect.js';
import { ORG_BLOCKED_WAIT_MS } from './org-blocks.js';
import { Deferred, LeaseWait, OrgBlocked, quiet, reason, Skip, Stopped, Unrecoverable } from './job-signals.js';
import { apiCalls } from './api-calls.js';
import { isRedisFull } from '../store/redis-memory.js';

/**
 * A write refused because Redis is full: the batch halts; the job, no attempt spent, stays until its
 * lock lapses and BullMQ's stalled check gives it back to the queue (never lost).
 */
async function redisFull(deps: ProcessorDeps): Promise<never> {
  await deps.onRedisFull?.();
  throw new DelayedError();
}

/**
 * Final outcomes may replace `skipped`: a cancel marks pending agents skipped, and one whose request was
 * already in flight must end as what really happened to it, never hide a change.
 */
const FROM: readonly AgentStatus[] = ['pending', 'skipped'];

/** How long a job of a paused (or otherwise waiting) batch is put back for before it looks again. */
export const DEFER_MS = 1000;
/**
 * An agent's lease lasts this long without renewal: longer than any one job (two requests of at most
 * 30 s each plus rate waits), short enough that a dead worker's lease frees the agent soon.
 */
export const LEASE_MS = 5 * 60_000;
/**
 * A job waiting for another batch's lease on its agent is woken by that lease's release; this is only
 * how long it waits if no wake comes (the holder's worker died: its lease expires after LEASE_MS).
 */
export const LEASE_WAIT_MS = 30_000;

export type { AgentJob, ProcessorDeps, ProcessorStore } from './job-ports.js';

export type JobOutcome = AgentStatus | 'already_done';

/**
 * The plan's snapshot of an applied plan's agent when its list row (read within the freshness) shows
 * the time the plan read it at; undefined otherwise — or if the list cannot be read — and the job GETs.
 */
async function plannedSnapshot(deps: ProcessorDeps, spec: AgentJobSpec, orgId: string, agentId: string, key: string): Promise<Agent | undefined> {
  if (spec.plannedAt === undefined || !deps.listed || !deps.plannedBefore) return undefined;
  try {
    if ((await deps.listed(orgId, agentId)) !== spec.plannedAt) return undefined;
    const before = await deps.plannedBefore(key);
    return before?.id === agentId && before.updated_at === spec.plannedAt ? before : undefined;
  } catch {
    return undefined;
  }
}

/**
 * PATCHed without a GET, on the plan's snapshot: writable fields the PATCH did not set that the reply
 * shows otherwise were edited by someone between the list row and the PATCH — said, never hidden (the
 * change was applied; whatever the PATCH replaced of such an edit cannot be told apart).
 */
function movedBeside(planned: Agent, after: Agent, changed: readonly string[]): string[] {
  const moved = Object.keys({ ...planned, ...after }).filter((field) => isWritableField(field) && !changed.includes(field) && !isDeepStrictEqual(planned[field], after[field]));
  return moved.length > 0 ? [`flagged: ${moved.join(', ')} changed beside this PATCH since the plan read the agent (an edit between its list row and the PATCH?): check it`] : [];
}

export async function processAgentJob(deps: ProcessorDeps, job: AgentJob, token?: string, signal?: AbortSignal): Promise<JobOutcome> {
  const { store, batchId, client } = deps;
  const key = job.data.k;
  const { orgId, agentId } = splitAgentKey(job.data.k);
  const { acquire, call } = apiCalls(deps, orgId, signal);

  // One round trip for two independent steps: the GET's slot (always needed unless the agent is done),
  // and the job's status (an attempt counted) with the agent's lease (one change at a time per agent).
  // Not for an applied plan's agent that its list row may confirm: its one request is the PATCH, and a
  // slot reserved now and used only after the list was read would go out late, in a bunch (429s).
  const firstSlot = typeof job.data.u === 'string' && deps.listed ? undefined : quiet(acquire());
  let begun;
  try {
    begun = await store.beginWithLease(batchId, key, LEASE_MS);
  } catch (error) {
    if (isRedisFull(error)) return redisFull(deps);
    throw error;
  }
  const { status, holder } = begun;
  // Released once: with the agent's outcome (one Lua step), or on any other way out.
  let released: Promise<void> | undefined;
  // Batches whose job for this agent waited meanwhile are woken; a wake that fails costs them only time.
  const wake = (waiters: string[]) => (waiters.length > 0 ? deps.wake?.(key, waiters).catch(() => {}) : undefined);
  const release = () => (released ??= holder === undefined ? store.releaseLease(batchId, key).then(wake) : Promise.resolve());
  /** The agent's outcome recorded — and its lease, ours, released in the same step. */
  const end = async (outcome: AgentStatus, record: FinishRecord): Promise<AgentStatus> => {
    if (holder !== undefined || released) await store.finish(batchId, key, outcome, FROM, record);
    else {
      // If this step fails, the lease is released on the way out (`finally`), on its own.
      const { waiters } = await store.finishAndRelease(batchId, key, outcome, FROM, record);
      released = Promise.resolve(wake(waiters));
    }
    return outcome;
  };
  if (status !== 'pending') {
    await release();
    return 'already_done'; // finished by an earlier delivery, or cancelled
  }
  /** The agent as read and its first before snapshot, once known (a skip records them). */
  let seen: { before: Agent; current: Agent } | undefined;
  /** This attempt's GET was answered: the API is up for this agent, and a later failure is the agent's. */
  let answered = false;
  try {
    // Read as untrusted (Redis contents, another version's): a job that cannot be read fails its agent
    // before any request.
    const spec = jobSpec(job.data);
    // Another running batch working on the agent now makes this one wait.
    if (holder !== undefined) throw new LeaseWait(`agent leased by batch ${holder}`);
    if (deps.orgBlocked?.(orgId)) throw new OrgBlocked(`org ${orgId} blocked`);
    // A rollback knows from the origin's record alone whether there is anything to restore: an agent
    // the origin never changed costs no request at all.
    const plan = deps.rollback ? restoration(deps.rollback.of, deps.rollback.changed, await store.agentRecord(deps.rollback.of, key)) : undefined;
    if (plan && (plan.kind === 'nothing' || plan.kind === 'impossible')) {
      const outcome: AgentStatus = plan.kind === 'nothing' ? 'unchanged' : 'failed';
      return await end(outcome, { error: plan.reason, ...(outcome === 'failed' ? { job: job.data } : {}) });
    }
    // An applied plan's agent still as the plan read it — its list row, read within the batch's
    // freshness, shows the same updated_at — is not read again: the plan's snapshot is the GET (SPEC §15).
    const confirmed = await plannedSnapshot(deps, spec, orgId, agentId, key);
    const current = confirmed ?? (await call(() => (deps.onRequest?.('get'), client.getAgent(orgId, agentId, signal ? { signal } : {})), firstSlot));
    answered = true;
    const targetFrom = async (before: Agent) => (plan?.kind === 'check' ? checkTarget(deps, plan, key, before) : plan ? rollbackTarget(deps, plan, before, current) : rolloutTarget(deps, spec, before));
    // On a first attempt the before snapshot is the agent as just read, so the target is known before
    // the snapshot is stored: the PATCH's slot is reserved while the snapshot is stored.
    const guess = await targetFrom(current);
    const guessDifferent = 'done' in guess ? [] : carriesDesired(current, guess.desired);
    const aheadSlot = guessDifferent.length > 0 ? quiet(acquire()) : undefined;
    // The feed's version as the before snapshot's step (which reads the status) is sent.
    const savedVersion = deps.statusVersion?.();
    const saved = await store.saveBefore(batchId, key, current);
    // A later attempt: the target comes from the first attempt's snapshot (so `$replace` applies once).
    const before = saved.first ? current : saved.before;
    seen = { before, current };
    // A rollout row's preconditions, on the agent as just read: not met, nothing is sent (SPEC §11).
    // An applied plan's preconditions are the values the plan saw (SPEC §12): a mismatch is drift, a
    // conflict left alone (retry --force applies anyway), not a row that simply does not apply.
    const planned = deps.options.planned === true;
    const unmet = deps.rollback || (planned && deps.force?.()) ? undefined : unmetExpectation(current, spec.expect as Expectation | undefined);
    // An agent already as the plan wants it (another batch of the same plan, a hand edit to the same
    // value) is no conflict: it goes on to be recorded `unchanged` (or `applied`, by an earlier attempt).
    const reached = async () => {
      const target = saved.first ? guess : await targetFrom(before);
      return !('done' in target) && carriesDesired(current, target.desired).length === 0;
    };
    if (unmet !== undefined && planned && !(await reached())) {
      return await end('conflict', { before, after: current, error: `changed since the plan: ${unmet} (left alone; \`nova-fleet retry ${batchId} --force\` applies anyway)`, job: job.data });
    }
    if (unmet !== undefined && !planned) {
      return await end('skipped', { before, after: current, error: `precondition: ${unmet}`, job: job.data });
    }
    const target = saved.first ? guess : await targetFrom(before);
    if ('done' in target) {
      const { status: outcome, error } = target.done;
      return await end(outcome, { before, after: current, ...(error ? { error } : {}), ...(outcome === 'failed' ? { job: job.data } : {}) });
    }
    const { desired, changed } = target;
    const success: AgentStatus = deps.rollback ? 'restored' : 'applied';
    // A later attempt (a retry, a redelivery) never overwrites someone else's edit: a touched field that
    // is now neither what the first attempt saw nor what this batch wants was changed by someone else
    // since — the agent is a conflict and left alone, as a rollback's would be (retry --force overrides).
    if (!deps.rollback && !saved.first && !deps.force?.()) {
      const edited = changed.filter((field) => !isDeepStrictEqual(current[field], before[field]) && !isDeepStrictEqual(current[field], desired[field]));
      if (edited.length > 0) {
        return await end('conflict', { before, after: current, changed, error: `changed by someone else since the first attempt: ${edited.join(', ')} (left alone; \`nova-fleet retry ${batchId} --force\` applies anyway)`, job: job.data });
      }
    }
    // The API sent the key inside fields of this agent (replaced by [redacted] on the way in). A field
    // this batch would change must not be computed from, or written back with, the placeholder.
    const keyed = redactedFields(current).filter((field) => changed.includes(field));
    if (keyed.length > 0) {
      return await end('failed', { before, after: current, error: `the API sent the API key inside ${keyed.join(', ')}; left unchanged so that the key is neither stored nor overwritten`, job: job.data });
    }
    // What still differs on the agent as it is now (an earlier attempt may have applied some or all).
    const stillDifferent = target === guess ? guessDifferent : carriesDesired(current, desired);
    if (stillDifferent.length === 0) {
      const outcome: AgentStatus = changed.length === 0 ? 'unchanged' : success;
      return await end(outcome, { before, after: current, changed });
    }
    const body = Object.fromEntries(stillDifferent.map((field) => [field, desired[field]!]));
    // The status read with the snapshot is later than the reserved slot's: it is the gate's if no wait.
    // A write limit below the read limit (`--write-rate`): the PATCH waits for its write slot too, before
    // the gate that `call` passes it through.
    await deps.writeSlot?.(orgId);
    const after = await call(() => (deps.onRequest?.('patch'), client.patchAgent(orgId, agentId, body, signal ? { signal } : {})), aheadSlot, aheadSlot ? { status: saved.status, version: savedVersion } : undefined);
    const missing = carriesDesired(after, desired);
    if (missing.length > 0) return await end('failed', { before, after, changed, error: `not_applied: the reply does not carry ${missing.join(', ')}`, job: job.data });
    const echoed = [...new Set([...redactedFields(current), ...redactedFields(after)])];
    const notes = [
      ...(echoed.length > 0 ? [`note: the API echoed the API key in ${echoed.join(', ')}; stored as [redacted]`] : []),
      ...(confirmed ? movedBeside(confirmed, after, changed) : []),
    ];
    return await end(success, { before, after, changed, ...(notes.length > 0 ? { error: notes.join('; ') } : {}) });
  } catch (error) {
    if (error instanceof Skip) {
      // Also over a `skipped` set by cancel meanwhile: the job is kept, so `retry --skipped` can run it.
      return await end('skipped', { ...(seen ? { before: seen.before, after: seen.current } : {}), error: error.message, job: job.data });
    }
    /**
     * Waiting is not trying: the attempt counted at the start is given back, and BullMQ counts none.
     * Always `return await putBack(…)`: a bare `return` lets `finally` run first, and the DelayedError,
     * rejected while nothing holds the promise yet, is an unhandled rejection that kills the worker.
     */
    const putBack = async (delayMs: number): Promise<never> => {
      try {
        await store.uncountAttempt(batchId, key);
        await job.moveToDelayed(Date.now() + delayMs, token);
      } catch (refused) {
        if (isRedisFull(refused)) return redisFull(deps);
        throw refused;
      }
      // Released between the take and the sleep, its release found the job not yet asleep: wake it here.
      if (error instanceof LeaseWait && !(await store.leasedElsewhere(batchId, key))) await job.promote().catch(() => {});
      throw new DelayedError();
    };
    // Not the agent's fault and not worth an attempt: the batch halts, the agent stays pending.
    if (isRedisFull(error)) {
      await deps.onRedisFull?.();
      return await putBack(DEFER_MS);
    }
    if (error instanceof Deferred || error instanceof Stopped) return await putBack(error instanceof Stopped ? 0 : error instanceof LeaseWait ? LEASE_WAIT_MS : error instanceof OrgBlocked ? ORG_BLOCKED_WAIT_MS : DEFER_MS);
    // A refused key is the org's, not the agent's: the agent stays pending; repeated, the org is blocked.
    if (error instanceof NovaApiError && error.kind === 'auth') return await putBack((await deps.onAuthRefused(orgId, error)) ? ORG_BLOCKED_WAIT_MS : DEFER_MS);
    const attempt = job.attemptsMade + 1;
    // An API that is down is not the agent's fault: while no request of the batch has succeeded lately,
    // such errors spend no attempt (the agent waits, pending), and a long enough outage halts the batch.
    // Not a PATCH that failed after this attempt's own GET was answered (a write that hangs or times
    // out, a write-only fault): that GET resets the outage clock every round, so waiting would neither
    // spend an attempt nor ever halt — the job would be tried for ever. It spends an attempt.
    if (!answered && error instanceof NovaApiError && looksDown(error) && deps.onApiTrouble && (await deps.onApiTrouble(error)) !== 'reachable') {
      await store.noteError(batchId, key, reason(error));
      return await putBack(backoffDelay(attempt, error, deps.options));
    }
    // Anything that is not the API's verdict (Redis briefly away, our own shutdown) is worth another attempt.
    const retryable = error instanceof NovaApiError ? error.retryable : !(error instanceof Unrecoverable);
    if (retryable && attempt < (job.opts.attempts ?? deps.options.attempts)) {
      await store.noteError(batchId, key, reason(error));
      throw error; // BullMQ retries it after the backoff (backoff.ts), as a new attempt
    }
    const before = await store.loadBefore(batchId, key);
    return await end('failed', { ...(before ? { before } : {}), error: reason(error), job: job.data });
  } finally {
    // A full Redis may refuse even this: the lease then lapses on its own (LEASE_MS).
    await release().catch((refused: unknown) => {
      if (!isRedisFull(refused)) throw refused;
    });
  }
}
