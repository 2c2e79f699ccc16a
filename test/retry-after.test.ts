import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../src/api/retry-after.js';
import { TokenBucket } from '../src/mock/token-bucket.js';

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-29T10:00:00Z');
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('1.5', now)).toBe(1500);
  });
  it('reads an HTTP date relative to now, never negative', () => {
    expect(parseRetryAfter('Sun, 29 Nov 2026 10:00:07 GMT', now)).toBe(7000);
    expect(parseRetryAfter('Sun, 29 Nov 2026 09:59:00 GMT', now)).toBe(0);
  });
  it('ignores what it cannot read rather than waiting zero', () => {
    for (const bad of [undefined, '', '-5', '10s', 'soon', 'Sun, 99 Foo 2026 99:00:00 GMT']) expect(parseRetryAfter(bad, now)).toBeUndefined();
  });
});

describe('TokenBucket', () => {
  it('allows a burst of `capacity`, then paces at `rate`', () => {
    let t = 0;
    const bucket = new TokenBucket(10, 2, () => t);
    expect([bucket.take(), bucket.take()]).toEqual([0, 0]);
    expect(bucket.take()).toBeCloseTo(100);
    t = 50;
    expect(bucket.take()).toBeCloseTo(50);
    t = 100;
    expect(bucket.take()).toBe(0);
  });
  it('rejects a zero rate or a capacity below one', () => {
    expect(() => new TokenBucket(0, 1)).toThrow('Expected `rate` to be a number above 0');
    expect(() => new TokenBucket(1, 0.5)).toThrow('Expected `capacity` to be a number from 1 and up');
  });
});
