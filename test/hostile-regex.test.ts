/**
 * One regex must not freeze the fleet (issue 13): every user regex runs under a time limit, every
 * produced value under the 1 MiB cell bound, and validate flags patterns that may backtrack.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Agent } from '../src/api/types.js';
import { validateManifest } from '../src/manifest/validate.js';
import { desiredState } from '../src/patch/desired.js';
import { applyReplace, looksCatastrophic, MAX_VALUE_BYTES, regexMatches, REGEX_TIME_LIMIT_MS } from '../src/patch/replace.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-regex-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const agent = (prompt: string): Agent => ({ id: 'a1', organization_id: 'o1', prompt_template: prompt }) as Agent;
const EVIL = '(\\w+\\s?)+$';
/** 3 KB of words ending in a character the pattern cannot end on: exponential backtracking. */
const PROMPT = `${'You are a helpful assistant for Acme '.repeat(80)}!`;

describe('a user regex is bounded in time', () => {
  it('a catastrophic pattern fails the agent after the limit instead of spinning for minutes', () => {
    const started = Date.now();
    const result = desiredState(agent(PROMPT), { prompt_template: { $replace: { find: EVIL, with: 'x', regex: true } } });
    const took = Date.now() - started;
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors[0]!.message).toContain(`ran longer than ${REGEX_TIME_LIMIT_MS} ms`);
    expect(took).toBeLessThan(5000); // was minutes; the limit itself is REGEX_TIME_LIMIT_MS
  }, 10_000);

  it('the same pattern over the same text pays the limit once, not once per row (40 rows took 10 s)', () => {
    const text = `${PROMPT} (rows of one prompt)`;
    const started = Date.now();
    for (let row = 0; row < 40; row++) {
      const result = desiredState(agent(text), { prompt_template: { $replace: { find: EVIL, with: 'x', regex: true } } });
      expect(!result.ok && result.errors[0]!.message).toContain(`ran longer than ${REGEX_TIME_LIMIT_MS} ms`);
    }
    // 40 × 250 ms = 10 s before; one limit and 39 look-ups now. Another text pays its own limit.
    expect(Date.now() - started).toBeLessThan(10 * REGEX_TIME_LIMIT_MS);
    // Remembered for that pattern over that text only: another text is matched (at once, here).
    const other = desiredState(agent('short words'), { prompt_template: { $replace: { find: EVIL, with: 'x', regex: true } } });
    expect(other.ok && other.desired.prompt_template).toBe('x');
  }, 20_000);

  it('a remembered time-out is kept apart by the kind of run and the flags', () => {
    const text = `a${PROMPT} (kinds)`;
    // A global replace goes on past the first match into the catastrophic rest; a test stops there.
    expect(() => applyReplace(text, { find: 'a|(\\w+\\s?)+$', with: 'x', regex: true })).toThrow(`ran longer than ${REGEX_TIME_LIMIT_MS} ms`);
    expect(regexMatches('a|(\\w+\\s?)+$', 'g', text)).toBe(true); // the same flags as the replace's
    // Case-sensitive, "A" is not found and the rest backtracks; with "i" it is found at once.
    expect(() => regexMatches('A|(\\w+\\s?)+$', '', text)).toThrow(`ran longer than ${REGEX_TIME_LIMIT_MS} ms`);
    expect(regexMatches('A|(\\w+\\s?)+$', 'i', text)).toBe(true);
  }, 20_000);

  it('an ordinary regex on a 100 KB prompt still works, and fast', () => {
    const big = 'Call Acme today. '.repeat(6000);
    const result = desiredState(agent(big), { prompt_template: { $replace: { find: 'Acme(?! Corp)', with: 'Acme Corp', regex: true } } });
    expect(result.ok && String(result.desired.prompt_template)).toBe('Call Acme Corp today. '.repeat(6000));
  });
});

describe('a produced value is bounded in size', () => {
  it('a literal or regex replace that would pass 1 MiB is refused before the value is built', () => {
    const long = 'a'.repeat(4000);
    for (const spec of [
      { find: 'a', with: 'b'.repeat(1000) },
      { find: '.', with: 'b'.repeat(1000), regex: true },
      { find: 'a', with: '$`$`', regex: true },
    ]) {
      const result = desiredState(agent(long), { prompt_template: { $replace: spec } });
      expect(result.ok, JSON.stringify(spec).slice(0, 40)).toBe(false);
      expect(!result.ok && result.errors[0]!.message).toContain(`larger than ${MAX_VALUE_BYTES} bytes`);
    }
  });
});

describe('validate flags risky patterns', () => {
  it('nested quantifiers get a warning; ordinary patterns do not', async () => {
    expect(looksCatastrophic(EVIL)).toBe(true);
    expect(looksCatastrophic('(a*)*')).toBe(true);
    expect(looksCatastrophic('(x+){2,}')).toBe(true);
    expect(looksCatastrophic('Acme(?! Corp)')).toBe(false);
    expect(looksCatastrophic('\\d+-\\d+')).toBe(false);
    const file = path.join(dir, 'evil.ndjson');
    writeFileSync(file, JSON.stringify({ org_id: 'o1', agent_id: 'a1', patch: { prompt_template: { $replace: { find: EVIL, with: 'x', regex: true } } } }));
    const report = await validateManifest(file);
    expect(report.ok).toBe(true);
    expect(report.warnings.map((w) => w.message)).toContainEqual(expect.stringContaining('has nested quantifiers and may backtrack for minutes'));
  });
});
