/**
 * The batch's API request budget, shared by every worker on every machine (SPEC §5): each request
 * reserves the next slot of the batch's schedule in Redis and waits for it, so requests are spaced
 * evenly at `rate` per second overall. A 429 pushes the whole schedule back by its Retry-After and
 * halves the rate, which recovers linearly over RECOVERY_MS as 429s stop.
 */
import type { BatchStore } from '../store/batch-store.js';

/** Time for the rate to climb back from a 429 to the full `--rate`. */
export const RECOVERY_MS = 30_000;
/** The rate never drops below this share of `--rate`. */
export const MIN_FACTOR = 0.1;

export class RateLimiter {
  /** The effective rate at the last reservation (requests/s), for status and metrics. */
  effectiveRate: number;

  constructor(
    private readonly store: BatchStore,
    private readonly batchId: string,
    private readonly rate: number,
    private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void> = abortableSleep,
    /** Observers for metrics: a wait for a slot, and a 429. */
    private readonly observe: { waited?: (ms: number) => void; limited?: () => void } = {},
  ) {
    this.effectiveRate = rate;
  }

  /** Resolves when this caller may send its request. */
  async acquire(signal?: AbortSignal): Promise<void> {
    const [wait, rateMilli] = await this.store.redis.nfReserve(this.store.keys.rate(this.batchId), this.rate, RECOVERY_MS);
    this.effectiveRate = rateMilli / 1000;
    if (wait > 0) {
      this.observe.waited?.(wait);
      await this.sleep(wait, signal);
    }
  }

  /** A 429: nobody in the batch starts a request for `retryAfterMs`, and the rate adapts down. */
  async penalize(retryAfterMs: number): Promise<void> {
    this.observe.limited?.();
    await this.store.redis.nfPenalize(this.store.keys.rate(this.batchId), retryAfterMs, MIN_FACTOR);
  }
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
