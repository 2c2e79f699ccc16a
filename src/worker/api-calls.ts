/**
 * One agent job's API requests: each waits for a slot in the batch's (and its key's) rate schedule, then
 * for a place among the worker's in-flight requests, then passes the gate (SPEC §13) — and only then
 * goes out. 429s wait, shared by the batch, without using an attempt.
 */
import { looksDown, MAX_RATE_LIMIT_WAITS, NovaApiError } from '../api/errors.js';
import type { BatchStatus } from '../batch/lifecycle.js';
import type { ProcessorDeps } from './job-ports.js';
import type { Slot } from './rate-limiter.js';
import { Deferred, Skip, Stopped } from './job-signals.js';

/**
 * A status read, with the status feed's version when the read was sent (undefined: no live feed). A
 * read after a slot was reserved (the before snapshot's step) is good as the gate's if no wait.
 */
export type KnownStatus = { status: BatchStatus | undefined; version: number | undefined };

/** A reserved rate slot, with the feed's version when its reservation (which read the status) was sent. */
export type Reserved = { slot: Slot; version: number | undefined };

export function apiCalls(deps: ProcessorDeps, orgId: string, signal?: AbortSignal) {
  const { limiter } = deps;
  // Waits for a rate slot end when this worker stops (deps.stop) too; requests already sent keep only
  // `signal` (the grace). Two signals, not AbortSignal.any: that one is slow in Node 20 per job.
  const keyId = deps.keyId?.(orgId);
  const acquire = (): Promise<Reserved> => {
    const version = deps.statusVersion?.();
    return limiter.acquire(signal, deps.stop, keyId).then((slot) => ({ slot, version }));
  };
  const stopped = () => deps.stop?.aborted === true;
  const inFlight = deps.inFlight ?? (<T>(send: (queued: boolean) => Promise<T>) => send(false));

  /**
   * The gate, right before a request is sent — after the waits, so nothing decided before them is
   * trusted after: this worker's shutdown, the batch's status, its window and deadline. `seen` is the
   * status read in the same Redis step that reserved the slot, or a read made later still (the before
   * snapshot's). It is read fresh after a wait for the rate slot; after a wait for a place among the
   * requests in flight too, unless the status feed is live and published no change since `seen` was
   * read (status-feed.ts).
   */
  const gate = async (slot: Slot, seen: KnownStatus, queued: boolean): Promise<void> => {
    if (stopped()) throw new Stopped();
    const unchanged = seen.version !== undefined && deps.statusVersion?.() === seen.version;
    const status = slot.waitedMs > 0 || (queued && !unchanged) ? await deps.batchStatus(true) : seen.status;
    if (stopped()) throw new Stopped();
    // A batch gone from Redis (pruned) is treated as cancelled: nothing more is sent for it.
    if (status === undefined || status === 'cancelled') throw new Skip('batch cancelled');
    if (status !== 'running') throw new Deferred(status);
    let schedule = deps.schedule?.() ?? 'open';
    // Judged on the metadata of the last poll; a "no" is confirmed on a fresh read (a retry may have
    // lifted the deadline, an operator changed the window) before the agent is skipped or put back.
    if (schedule !== 'open') schedule = await deps.schedule!(true);
    if (schedule === 'past_deadline') {
      await deps.onDeadline?.();
      throw new Skip('deadline passed');
    }
    if (schedule !== 'open') throw new Deferred('outside its window');
  };

  /** `fn` sent within the budget, through the gate. `reserved` is a slot already being acquired. */
  const call = async <T>(fn: () => Promise<T>, reserved?: Promise<Reserved>, known?: KnownStatus): Promise<T> => {
    let limited = 0;
    for (let round = 0; ; round++) {
      const early = round === 0 && reserved !== undefined;
      let slot: Slot;
      let seen: KnownStatus;
      try {
        const got = await (early ? reserved : acquire());
        slot = got.slot;
        seen = early && known ? known : { status: slot.status, version: got.version };
      } catch (error) {
        if (stopped()) throw new Stopped();
        throw error;
      }
      // The place among the worker's in-flight requests is held from the gate to the reply only: the
      // job's Redis steps around it overlap the other jobs' requests (and a 429's wait holds none).
      const sent = await inFlight(async (queued) => {
        // A 429 met since this slot was reserved pushed the schedule back: the slot is from before it.
        if (limiter.stale(slot)) return { stale: true } as const;
        await gate(slot, seen, queued);
        try {
          return { result: await fn() };
        } catch (error) {
          return { error };
        }
      });
      if ('stale' in sent) continue;
      if (!('error' in sent)) {
        deps.onApiReachable?.();
        return sent.result;
      }
      const { error } = sent;
      if (error instanceof NovaApiError && !looksDown(error) && error.kind !== 'aborted') deps.onApiReachable?.();
      if (error instanceof NovaApiError && error.kind === 'rate_limited' && limited++ < MAX_RATE_LIMIT_WAITS) {
        await limiter.penalize(error.retryAfterMs ?? 1000, keyId);
        continue;
      }
      throw error;
    }
  };

  return { acquire, call };
}
