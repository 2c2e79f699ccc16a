/**
 * The requests a batch sent, by kind (SPEC §15): counted in memory as each goes out — a Redis write per
 * request would cost the hot path a round trip — and added to the batch's counters at every poll and
 * when the worker closes. A worker killed outright loses at most its last second's count: the figure is
 * for people (requests per changed agent), never a decision.
 */
import { REQUEST_KINDS, type RequestCounts, type RequestKind } from '../batch/records.js';

const none = (): RequestCounts => ({ get: 0, patch: 0, list: 0, calls: 0 });

export class RequestTally {
  #pending = none();

  constructor(
    private readonly save: (counts: RequestCounts) => Promise<void>,
    /** Told of every request at once (the metrics). */
    private readonly observe?: (kind: RequestKind) => void,
  ) {}

  count(kind: RequestKind): void {
    this.#pending[kind]++;
    this.observe?.(kind);
  }

  /** Adds what was counted since the last flush to the batch's counters; kept for the next one if Redis refuses. */
  async flush(): Promise<void> {
    const counts = this.#pending;
    if (REQUEST_KINDS.every((kind) => counts[kind] === 0)) return;
    this.#pending = none();
    try {
      await this.save(counts);
    } catch (error) {
      for (const kind of REQUEST_KINDS) this.#pending[kind] += counts[kind];
      throw error;
    }
  }
}
