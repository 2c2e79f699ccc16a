/**
 * Spaces calls evenly at `rate` per second within one process (no bursts): each caller is given the
 * next free slot. Used by `plan`, which reads only and runs in one process; the engine's budget is
 * shared across workers in Redis instead.
 */
export class Pacer {
  #next = 0;
  readonly #base: number;
  #interval: number;

  constructor(
    rate: number,
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {
    if (!(rate > 0)) throw new RangeError('Expected `rate` to be a number above 0');
    this.#base = this.#interval = 1000 / rate;
  }

  /** The pace now, in calls per second (below `rate` after 429s). */
  get rate(): number {
    return 1000 / this.#interval;
  }

  /** Resolves when the caller may make its request. */
  async take(): Promise<void> {
    const t = this.now();
    const slot = Math.max(t, this.#next);
    this.#next = slot + this.#interval;
    if (slot > t) await this.sleep(slot - t);
  }

  /**
   * A 429: push every future slot back by `ms` (its Retry-After applies to everyone) and halve the pace
   * (down to 1/16 of `rate`) — an API that refused this pace would refuse it again after the pause.
   */
  delay(ms: number): void {
    this.#next = Math.max(this.#next, this.now() + ms);
    this.#interval = Math.min(this.#base * 16, this.#interval * 2);
  }

  /** A call got through: the pace climbs back towards `rate` a little (20 successes undo one halving). */
  recover(): void {
    this.#interval = Math.max(this.#base, this.#interval * 0.966);
  }
}
