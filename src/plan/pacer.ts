/**
 * Spaces calls evenly at `rate` per second within one process (no bursts): each caller is given the
 * next free slot. Used by `plan`, which reads only and runs in one process; the engine's budget is
 * shared across workers in Redis instead.
 */
export class Pacer {
  #next = 0;
  readonly #interval: number;

  constructor(
    rate: number,
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {
    if (!(rate > 0)) throw new RangeError('Expected `rate` to be a number above 0');
    this.#interval = 1000 / rate;
  }

  /** Resolves when the caller may make its request. */
  async take(): Promise<void> {
    const t = this.now();
    const slot = Math.max(t, this.#next);
    this.#next = slot + this.#interval;
    if (slot > t) await this.sleep(slot - t);
  }

  /** Push every future slot back by `ms` (a 429's Retry-After applies to everyone). */
  delay(ms: number): void {
    this.#next = Math.max(this.#next, this.now() + ms);
  }
}
