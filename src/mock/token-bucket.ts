/**
 * A classic token bucket: `rate` tokens per second, at most `capacity` banked. Used by the mock to
 * answer 429 like a real gateway. `now` is injectable so tests need not sleep.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(
    readonly rate: number,
    readonly capacity: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(rate > 0)) throw new RangeError('Expected `rate` to be a number above 0');
    if (!(capacity >= 1)) throw new RangeError('Expected `capacity` to be a number from 1 and up');
    this.#tokens = capacity;
    this.#last = now();
  }

  /** Takes a token and returns 0, or returns the ms until one will be available (nothing taken). */
  take(): number {
    const t = this.now();
    this.#tokens = Math.min(this.capacity, this.#tokens + ((t - this.#last) / 1000) * this.rate);
    this.#last = t;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return ((1 - this.#tokens) / this.rate) * 1000;
  }
}
