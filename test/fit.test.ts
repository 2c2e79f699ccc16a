/** Whether a batch can finish before its deadline (batch/fit.ts): the open time of a schedule, and the fit. */
import { describe, expect, it } from 'vitest';
import { fitBeforeDeadline, openTime } from '../src/batch/fit.js';
import { parseWindow } from '../src/batch/window.js';

const at = (iso: string) => Date.parse(iso);

describe('open time before a deadline', () => {
  it('without a window, all of it; with one, only its open hours (a night window crossing midnight, in its zone)', () => {
    expect(openTime(undefined, at('2026-12-05T00:00:00Z'), at('2026-12-05T06:00:00Z'))).toBe(6 * 3600_000);
    const nights = parseWindow('22:00-02:00 UTC');
    // Fri 20:00 → Sun 20:00 UTC: Fri 22–24, Sat 00–02, Sat 22–24, Sun 00–02 = 8 h.
    expect(openTime(nights, at('2026-12-04T20:00:00Z'), at('2026-12-06T20:00:00Z'))).toBe(8 * 3600_000);
    // Starting inside an open stretch counts from the start, ending inside one up to the end.
    expect(openTime(nights, at('2026-12-04T23:00:00Z'), at('2026-12-05T01:30:00Z'))).toBe(2.5 * 3600_000);
    const weekend = parseWindow('Sat,Sun 02:00-04:00 Europe/Berlin');
    expect(openTime(weekend, at('2026-12-04T00:00:00Z'), at('2026-12-07T06:00:00+01:00'))).toBe(4 * 3600_000);
    expect(openTime(weekend, at('2026-12-07T00:00:00Z'), at('2026-12-06T00:00:00Z'))).toBe(0);
  });
});

describe('a batch against its deadline', () => {
  const now = at('2026-12-05T00:00:00Z');
  it('needs its requests at the rate that limits it, plus the bakes between waves', () => {
    const fit = fitBeforeDeadline({ agents: 1500, requestsPerAgent: 2, rate: 20, waves: [15, 150, 1500], bakeMs: 600_000 }, { deadline: now + 3600_000 }, now);
    expect(fit).toEqual({ requests: 3000, needMs: 150_000 + 1_200_000, openMs: 3600_000, fits: true });
    const tight = fitBeforeDeadline({ agents: 100_000, requestsPerAgent: 2, rate: 10 }, { deadline: now + 3600_000 }, now);
    expect(tight).toMatchObject({ needMs: 20_000_000, fits: false });
  });

  it('counts only the window\'s hours from the start', () => {
    const fit = fitBeforeDeadline({ agents: 10_000, requestsPerAgent: 2, rate: 2 }, { startAt: at('2026-12-05T12:00:00Z'), window: parseWindow('22:00-02:00 UTC'), deadline: at('2026-12-06T12:00:00Z') }, now);
    expect(fit).toEqual({ requests: 20_000, needMs: 10_000_000, openMs: 4 * 3600_000, fits: true });
    // From now: Sat 00–02 and Sat 22 – Sun 02 = 6 h; 25,000 s is more.
    expect(fitBeforeDeadline({ agents: 25_000, requestsPerAgent: 2, rate: 2 }, { window: parseWindow('22:00-02:00 UTC'), deadline: at('2026-12-06T12:00:00Z') }, now)).toMatchObject({ openMs: 6 * 3600_000, fits: false });
  });
});
