/** backoffDelay (SPEC §5): a pure function, pinned — exponential, capped, jittered, Retry-After honoured. */
import { describe, expect, it } from 'vitest';
import { NovaApiError } from '../src/api/errors.js';
import { backoffDelay } from '../src/batch/backoff.js';

const OPTIONS = { rate: 10, attempts: 6, backoffMs: 1000, backoffCapMs: 60_000 };
const low = () => 0;
const high = () => 0.999999;

describe('backoffDelay', () => {
  it('doubles from backoffMs, with equal jitter: between half and all of the step', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, undefined, OPTIONS, low))).toEqual([500, 1000, 2000, 4000]);
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, undefined, OPTIONS, high))).toEqual([1000, 2000, 4000, 8000]);
  });

  it('attempt 0 (and below) waits the first step', () => {
    expect(backoffDelay(0, undefined, OPTIONS, high)).toBe(1000);
  });

  it('never exceeds the cap, however many attempts', () => {
    expect(backoffDelay(30, undefined, OPTIONS, high)).toBe(60_000);
    expect(backoffDelay(30, undefined, OPTIONS, low)).toBe(30_000);
  });

  it("honours the server's Retry-After, even above the cap; never shorter than it", () => {
    const limited = (ms: number) => new NovaApiError({ kind: 'rate_limited', method: 'GET', path: '/x', status: 429, retryAfterMs: ms });
    expect(backoffDelay(1, limited(5000), OPTIONS, high)).toBe(5000);
    expect(backoffDelay(1, limited(120_000), OPTIONS, high)).toBe(120_000);
    expect(backoffDelay(4, limited(100), OPTIONS, high)).toBe(8000);
  });

  it('ignores a Retry-After on anything that is not an API error', () => {
    expect(backoffDelay(1, Object.assign(new Error('x'), { retryAfterMs: 99_999 }), OPTIONS, high)).toBe(1000);
  });
});
