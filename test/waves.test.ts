import { describe, expect, it } from 'vitest';
import { parseBudget, parseDuration, parseWaves, resolveBudget, resolveWaves, waveOf } from '../src/batch/waves.js';

describe('waves', () => {
  it('resolves cumulative targets, counts and percentages, for the batch size', () => {
    expect(resolveWaves(parseWaves('1,5%,25%,100%'), 1000)).toEqual([1, 50, 250, 1000]);
    expect(resolveWaves(parseWaves('10, 50%'), 100)).toEqual([10, 50, 100]);
  });
  it('merges waves that would add nobody and never exceeds the batch', () => {
    expect(resolveWaves(parseWaves('1,5%,25%,100%'), 10)).toEqual([1, 3, 10]);
    expect(resolveWaves(parseWaves('500'), 20)).toEqual([20]);
  });
  it('refuses targets that go down, zero, and nonsense', () => {
    expect(() => resolveWaves(parseWaves('50%,10%'), 100)).toThrow('targets are cumulative and must not go down (10 after 50)');
    expect(() => parseWaves('0,100%')).toThrow('"0" is neither a number of agents');
    expect(() => parseWaves('150%')).toThrow('"150%" must be above 0% and at most 100%');
    expect(() => parseWaves('')).toThrow('give cumulative targets');
  });
  it('puts each manifest position in its wave', () => {
    const targets = [1, 3, 10];
    expect([0, 1, 2, 3, 9].map((i) => waveOf(i, targets))).toEqual([0, 1, 1, 2, 2]);
  });
});

describe('error budget and durations', () => {
  it('is N agents or P% of the batch (rounded down, as failures allowed)', () => {
    expect(resolveBudget(parseBudget('5'), 1000)).toBe(5);
    expect(resolveBudget(parseBudget('2%'), 1000)).toBe(20);
    expect(resolveBudget(parseBudget('10%'), 15)).toBe(1);
    expect(resolveBudget(parseBudget('0'), 15)).toBe(0);
    expect(() => parseBudget('many')).toThrow('--max-failures');
  });
  it('parses 500ms, 30s, 10m, 1h', () => {
    expect(['500ms', '30s', '10m', '1h', '1.5s'].map(parseDuration)).toEqual([500, 30_000, 600_000, 3_600_000, 1500]);
    expect(() => parseDuration('10 minutes')).toThrow('is not a duration such as 30s, 10m or 1h');
  });
});
