/**
 * The batch's API request budget, shared by every worker on every machine (SPEC §5): each request
 * reserves the next slot of the batch's schedule in Redis and waits for it, so requests are spaced
 * evenly at `rate` per second overall. A 429 pushes the whole schedule back by its Retry-After and
 * halves the rate, which recovers linearly over RECOVERY_MS as 429s stop.
 *
 * At rates far above what one request's round trip can use (`--rate` in the thousands, or unlimited in
 * practice), a Lua call per request is pure overhead — on a 2-core machine it was two of a job's seven
 * Redis calls. There a reservation takes a *block* of consecutive slots spanning at most BLOCK_SPAN_MS
 * of the schedule, and this process hands them out in turn: the schedule in Redis is the same, only
 * reserved a few at a time. A block is used only while it is sound: no 429 met since it was reserved,
 * the batch's status feed live and silent since (its status read is then still the batch's), and each
 * slot within BLOCK_SPAN_MS of its time (a slot left unused longer is dropped, never sent late in a
 * bunch). At ordinary rates (below 1,000 requests/s) every request reserves its own slot, as before.
 */
import type { BatchStore } from '../store/batch-store.js';
import type { BatchStatus } from '../batch/lifecycle.js';

/** A reserved slot, and the batch's status read when it was reserved (valid as a gate only if `waited` is 0). */
export interface Slot {
  waitedMs: number;
  status: BatchStatus | undefined;
  /** How many 429s this limiter had met when the slot was reserved (see `stale`). */
  penalties: number;
  /** The API key's id, and how many 429s this process had met on it when the slot was reserved. */
  key?: string;
  keyPenalties?: number;
}

/**
 * 429s met by this process per API key, seen by every batch's limiter on that key: a 429 met by one
 * batch makes the slots another batch on the same key reserved before it stale too (SPEC §10: a 429
 * slows everyone on the key). Other processes' slots are pushed back through the key's schedule.
 */
const keyPenalties = new Map<string, { count: number; quietUntil: number }>();

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
  /** Per API key id ('' for none): the block of slots being handed out, and the effective rate last seen. */
  readonly #blocks = new Map<string, Block>();
  readonly #rates = new Map<string, number>();
  /** Per API key id: a block reservation on its way (callers meanwhile wait for it rather than reserve). */
  readonly #reserving = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: BatchStore,
    private readonly batchId: string,
    /** The batch's --rate, read at every reservation (an operator may change it on a running batch). */
    private readonly rate: () => number,
    private readonly sleep: (ms: number, signal?: AbortSignal, other?: AbortSignal) => Promise<void> = abortableSleep,
    /** Observers for metrics: a wait for a slot, and a 429. */
    private readonly observe: { waited?: (ms: number) => void; limited?: () => void } = {},
    /** The status feed's version (ProcessorDeps.statusVersion); without a live feed no block is used. */
    private readonly statusVersion: () => number | undefined = () => undefined,
    /** This machine's monotonic clock in ms, for a block's slot times (tests hold it still or move it). */
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.effectiveRate = rate();
  }

  /**
   * Resolves when this caller may send its request (rejects if `signal` or `stop` aborts the wait): a
   * slot in the batch's schedule and, for a request with `keyId`, one in its API key's schedule, shared
   * with every batch on that key (SPEC §10) — whichever comes later.
   */
  async acquire(signal?: AbortSignal, stop?: AbortSignal, keyId?: string): Promise<Slot> {
    const name = keyId ?? '';
    for (;;) {
      const version = this.statusVersion();
      const block = this.#blocks.get(name);
      const keyCount = keyId === undefined ? 0 : (keyPenalties.get(keyId)?.count ?? 0);
      const at = block && block.penalties === this.#penalties && block.keyPenalties === keyCount && version !== undefined && block.version === version ? takeSlot(block, this.clock()) : undefined;
      if (at !== undefined) {
        const waitMs = Math.floor(at - this.clock());
        if (waitMs > 0) await this.#wait(waitMs, signal, stop);
        return { waitedMs: Math.max(0, waitMs), status: block!.status, penalties: block!.penalties, ...(keyId === undefined ? {} : { key: keyId, keyPenalties: block!.keyPenalties }) };
      }
      // Another caller's block is on its way: take from it rather than reserve a block of one's own.
      const reserving = this.#reserving.get(name);
      if (reserving) {
        await reserving;
        continue;
      }
      const count = version === undefined ? 1 : blockSize(Math.min(this.rate(), this.#rates.get(name) ?? 0));
      const penalties = this.#penalties;
      // The key's 429 count read above: nothing was awaited since.
      const onKey = keyId === undefined ? {} : { key: keyId, keyPenalties: keyCount };
      const reservation = keyId === undefined ? this.store.reserveSlot(this.batchId, this.rate(), RECOVERY_MS, count) : this.store.reserveSlots(this.batchId, this.rate(), RECOVERY_MS, keyId, KEY_RATE_WINDOW_MS, count);
      if (count > 1) this.#reserving.set(name, reservation.catch(() => {}));
      let reply: Awaited<typeof reservation>;
      try {
        reply = await reservation;
      } finally {
        if (count > 1) this.#reserving.delete(name);
      }
      const { waitMs, rateMilli, status } = reply;
      this.effectiveRate = rateMilli / 1000;
      this.#rates.set(name, this.effectiveRate);
      // The first slot is this caller's; the others follow 1/rate apart, counted from the reply's arrival
      // (later than Redis's own clock by the round trip: never earlier than the schedule).
      if (count > 1 && version !== undefined) this.#blocks.set(name, { start: this.clock() + waitMs, spacing: 1e6 / rateMilli, next: 1, count, status, version, penalties, keyPenalties: keyCount });
      if (waitMs > 0) await this.#wait(waitMs, signal, stop);
      return { waitedMs: waitMs, status, penalties, ...onKey };
    }
  }

  async #wait(ms: number, signal?: AbortSignal, stop?: AbortSignal): Promise<void> {
    this.observe.waited?.(ms);
    await this.sleep(ms, signal, stop);
  }

  /**
   * This process met a 429 since the slot was reserved, and its Retry-After has not passed: the slot
   * is a place in the schedule from before the push-back, and a request sent on it now would go out
   * while the API asked for quiet. (429s met by other workers push back the slots reserved after them.)
   */
  stale(slot: Slot): boolean {
    if (slot.penalties !== this.#penalties && Date.now() < this.#quietUntil) return true;
    const key = slot.key === undefined ? undefined : keyPenalties.get(slot.key);
    return key !== undefined && key.count !== slot.keyPenalties && Date.now() < key.quietUntil;
  }

  /** A 429: nobody in the batch starts a request for `retryAfterMs`, and the rate adapts down. */
  async penalize(retryAfterMs: number, keyId?: string): Promise<void> {
    this.#penalties++;
    this.#quietUntil = Math.max(this.#quietUntil, Date.now() + retryAfterMs);
    if (keyId !== undefined) {
      const key = keyPenalties.get(keyId) ?? { count: 0, quietUntil: 0 };
      keyPenalties.set(keyId, { count: key.count + 1, quietUntil: Math.max(key.quietUntil, Date.now() + retryAfterMs) });
    }
    this.observe.limited?.();
    await Promise.all([this.store.penalizeSlots(this.batchId, retryAfterMs, MIN_FACTOR), keyId === undefined ? undefined : this.store.penalizeKey(keyId, retryAfterMs, MIN_FACTOR)]);
  }
}

/** A block spans at most this much of the schedule. */
export const BLOCK_SPAN_MS = 2;
/** At most this many slots per reservation. */
export const MAX_BLOCK = 16;

/** Consecutive slots of one reservation, handed out in turn by this process. */
interface Block {
  /** Slot 0's time on the limiter's clock, and the time between slots (ms). */
  start: number;
  spacing: number;
  /** The next slot to hand out, of `count`. */
  next: number;
  count: number;
  /** The batch's status read by the reservation, and the status feed's version when it was sent. */
  status: BatchStatus | undefined;
  version: number;
  penalties: number;
  /** The key's 429s in this process when it was reserved: one met since (by any batch) ends the block. */
  keyPenalties: number;
}

/** How many slots one reservation takes at `rate` requests/s (a rate of 0, not known yet, takes 1: no block). */
export function blockSize(rate: number): number {
  return Math.max(1, Math.min(MAX_BLOCK, Math.floor((rate * BLOCK_SPAN_MS) / 1000)));
}

/** The time of the block's next usable slot, or undefined when none is left (a slot BLOCK_SPAN_MS past its time is dropped). */
function takeSlot(block: Block, now: number): number | undefined {
  while (block.next < block.count && block.start + block.next * block.spacing < now - BLOCK_SPAN_MS) block.next++;
  if (block.next >= block.count) return undefined;
  return block.start + block.next++ * block.spacing;
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
