/** plan's pacer: even spacing, and a 429 slows the pace until successes bring it back. */
import { describe, expect, it } from 'vitest';
import { Pacer } from '../src/plan/pacer.js';

function clocked(rate: number) {
  let now = 0;
  const waits: number[] = [];
  const pacer = new Pacer(
    rate,
    () => now,
    async (ms) => {
      waits.push(ms);
      now += ms;
    },
  );
  return { pacer, waits, advance: (ms: number) => (now += ms) };
}

describe('Pacer', () => {
  it('refuses a rate that is not above 0', () => {
    for (const rate of [0, -1, Number.NaN]) expect(() => new Pacer(rate)).toThrow('Expected `rate` to be a number above 0');
    expect(() => new Pacer(0.5)).not.toThrow();
  });

  it('spaces calls 1/rate apart, with no burst', async () => {
    const { pacer, waits } = clocked(10);
    for (let i = 0; i < 4; i++) await pacer.take();
    expect(waits).toEqual([100, 100, 100]);
  });

  it('a 429 pushes every slot past its Retry-After and halves the pace, down to 1/16', async () => {
    const { pacer, waits } = clocked(10);
    await pacer.take();
    pacer.delay(1000);
    expect(pacer.rate).toBeCloseTo(5);
    await pacer.take();
    await pacer.take();
    expect(waits).toEqual([1000, 200]);
    for (let i = 0; i < 10; i++) pacer.delay(0);
    expect(pacer.rate).toBeCloseTo(10 / 16);
  });

  it('successes bring the pace back to its rate, never above', () => {
    const { pacer } = clocked(10);
    pacer.delay(0);
    for (let i = 0; i < 10; i++) pacer.recover();
    expect(pacer.rate).toBeGreaterThan(5);
    expect(pacer.rate).toBeLessThan(10);
    for (let i = 0; i < 100; i++) pacer.recover();
    expect(pacer.rate).toBe(10);
  });
});
