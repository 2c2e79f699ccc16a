/**
 * The batch's API request budget, shared by every worker on every machine (SPEC §5): each request
 * reserves the next slot of the batch's schedule in Redis and waits for it, so requests are spaced
 * evenly at `rate` per second overall. A 429 pushes the whole schedule back by its Retry-After and
 * halves the rate, which recovers linearly over RECOVERY_MS as 429s stop.
 */
import type { BatchStatus, BatchStore } from '../store/batch-store.js';

/** A reserved slot, and the batch's status read when it was reserved (valid as a gate only if `waited` is 0). */
export interface Slot {
  waitedMs: number;
  status: BatchStatus | undefined;
  /** How many 429s this limiter had met when the slot was reserved (see `stale`). */
  penalties: number;
}

/** Time for the rate to climb back from a 429 to the full `--rate`. */
export const RECOVERY_MS = 30_000;
/** The rate never drops below this share of `--rate`. */
export const MIN_FACTOR = 0.1;
/** Without --key-rate a key runs at the highest --rate of the batches seen on it within this window. */
export const KEY_RATE_WINDOW_MS = 5000;

export class RateLimiter {
  /** The effective rate at the last reservation (requests/s), for status and metrics. */
  effectiveRate: number;
  /** 429s met by this process's jobs of the batch. */
  #penalties = 0;
  /** Until when (this machine's clock) the latest 429's Retry-After asks for quiet. */
  #quietUntil = 0;

  constructor(
    private readonly store: BatchStore,
    private readonly batchId: string,
    /** The batch's --rate, read at every reservation (an operator may change it on a running batch). */
    private readonly rate: () => number,
    private readonly sleep: (ms: number, signal?: AbortSignal, other?: AbortSignal) => Promise<void> = abortableSleep,
    /** Observers for metrics: a wait for a slot, and a 429. */
    private readonly observe: { waited?: (ms: number) => void; limited?: () => void } = {},
  ) {
    this.effectiveRate = rate();
  }

  /**
   * Resolves when this caller may send its request (rejects if `signal` or `stop` aborts the wait): a
   * slot in the batch's schedule and, for a request with `keyId`, one in its API key's schedule, shared
   * with every batch on that key (SPEC §10) — whichever comes later.
   */
  async acquire(signal?: AbortSignal, stop?: AbortSignal, keyId?: string): Promise<Slot> {
    const penalties = this.#penalties;
    const { waitMs, rateMilli, status } =
      keyId === undefined ? await this.store.reserveSlot(this.batchId, this.rate(), RECOVERY_MS) : await this.store.reserveSlots(this.batchId, this.rate(), RECOVERY_MS, keyId, KEY_RATE_WINDOW_MS);
    this.effectiveRate = rateMilli / 1000;
    if (waitMs > 0) {
      this.observe.waited?.(waitMs);
      await this.sleep(waitMs, signal, stop);
    }
    return { waitedMs: waitMs, status, penalties };
  }

  /**
   * This process met a 429 since the slot was reserved, and its Retry-After has not passed: the slot
   * is a place in the schedule from before the push-back, and a request sent on it now would go out
   * while the API asked for quiet. (429s met by other workers push back the slots reserved after them.)
   */
  stale(slot: Slot): boolean {
    return slot.penalties !== this.#penalties && Date.now() < this.#quietUntil;
  }

  /** A 429: nobody in the batch starts a request for `retryAfterMs`, and the rate adapts down. */
  async penalize(retryAfterMs: number, keyId?: string): Promise<void> {
    this.#penalties++;
    this.#quietUntil = Math.max(this.#quietUntil, Date.now() + retryAfterMs);
    this.observe.limited?.();
    await Promise.all([this.store.penalizeSlots(this.batchId, retryAfterMs, MIN_FACTOR), keyId === undefined ? undefined : this.store.penalizeKey(keyId, retryAfterMs, MIN_FACTOR)]);
  }
}

/** Sleeps `ms`, or rejects with the reason of whichever signal aborts first. */
export function abortableSleep(ms: number, ...signals: Array<AbortSignal | undefined>): Promise<void> {
  const watched = signals.filter((s): s is AbortSignal => s !== undefined);
  return new Promise((resolve, reject) => {
    const aborted = watched.find((s) => s.aborted);
    if (aborted) return reject(aborted.reason as Error);
    const done = () => {
      clearTimeout(timer);
      for (const s of watched) s.removeEventListener('abort', onAbort);
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    const onAbort = (event: Event) => {
      done();
      reject((event.target as AbortSignal).reason as Error);
    };
    for (const s of watched) s.addEventListener('abort', onAbort, { once: true });
  });
}
