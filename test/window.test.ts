/** Maintenance windows on a fake clock: zones, days, midnight, DST. */
import { describe, expect, it } from 'vitest';
import { isOpen, nextChange, parseWindow } from '../src/batch/window.js';

const at = (iso: string) => Date.parse(iso);

describe('parseWindow', () => {
  it('reads days, times and the zone', () => {
    const spec = parseWindow('Sat,Sun 02:00-04:00 Europe/Berlin');
    expect(spec).toMatchObject({ start: 7200, end: 14400, zone: 'Europe/Berlin' });
    expect([...spec.days!]).toEqual([5, 6]);
    expect(parseWindow('22:00-02:30:15 UTC')).toMatchObject({ days: undefined, start: 79200, end: 9015 });
  });
  it('refuses what it cannot read, saying how it should look', () => {
    expect(() => parseWindow('02:00-04:00')).toThrow('is not of the form "[DAYS] HH:MM-HH:MM ZONE"');
    expect(() => parseWindow('02:00-04:00 Mars/Olympus')).toThrow('"Mars/Olympus" is not an IANA time zone');
    expect(() => parseWindow('Funday 02:00-04:00 UTC')).toThrow('"Funday" is not a day');
    expect(() => parseWindow('25:00-04:00 UTC')).toThrow('"25:00" is not a time');
    expect(() => parseWindow('02:00-02:00 UTC')).toThrow('opens and closes at the same time');
  });
});

describe('isOpen', () => {
  const berlin = parseWindow('Sat,Sun 02:00-04:00 Europe/Berlin');
  it('is open only inside the local times on the given days', () => {
    expect(isOpen(berlin, at('2026-11-28T01:30:00Z'))).toBe(true); // Sat 02:30 CET
    expect(isOpen(berlin, at('2026-11-28T00:59:59Z'))).toBe(false); // Sat 01:59:59 CET
    expect(isOpen(berlin, at('2026-11-28T03:00:00Z'))).toBe(false); // Sat 04:00 CET: closed
    expect(isOpen(berlin, at('2026-11-27T01:30:00Z'))).toBe(false); // Fri 02:30 CET
  });
  it('follows daylight saving time (CEST is UTC+2)', () => {
    expect(isOpen(berlin, at('2026-06-06T00:30:00Z'))).toBe(true); // Sat 02:30 CEST
    expect(isOpen(berlin, at('2026-06-06T01:30:00Z'))).toBe(true); // Sat 03:30 CEST
    expect(isOpen(berlin, at('2026-06-06T02:00:00Z'))).toBe(false); // Sat 04:00 CEST
  });
  it('crosses midnight, the days naming the evening it opens', () => {
    const night = parseWindow('Fri 22:00-02:00 UTC');
    expect(isOpen(night, at('2026-11-27T23:00:00Z'))).toBe(true); // Fri 23:00
    expect(isOpen(night, at('2026-11-28T01:59:00Z'))).toBe(true); // Sat 01:59, Friday's window
    expect(isOpen(night, at('2026-11-28T23:00:00Z'))).toBe(false); // Sat 23:00
    expect(isOpen(night, at('2026-11-27T01:00:00Z'))).toBe(false); // Fri 01:00 is Thursday's window
  });
});

describe('nextChange', () => {
  it('tells when a closed window opens and an open one closes', () => {
    const berlin = parseWindow('Sat,Sun 02:00-04:00 Europe/Berlin');
    expect(new Date(nextChange(berlin, at('2026-11-25T12:00:00Z'))!).toISOString()).toBe('2026-11-28T01:00:00.000Z');
    expect(new Date(nextChange(berlin, at('2026-11-28T01:30:00Z'))!).toISOString()).toBe('2026-11-28T03:00:00.000Z');
    expect(new Date(nextChange(parseWindow('10:00:30-10:00:45 UTC'), at('2026-11-25T10:00:00Z'))!).toISOString()).toBe('2026-11-25T10:00:30.000Z');
  });
});
