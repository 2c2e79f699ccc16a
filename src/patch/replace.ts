/**
 * `$replace`, bounded (issue 13). A user's regular expression can backtrack for minutes (`(\w+\s?)+$`
 * on a 3 KB prompt): every regex replace runs in a `node:vm` context with a time limit, which V8
 * interrupts (a worker that spun at 100% ignoring SIGTERM now fails that agent in 250 ms and goes on).
 * And no replace may produce a value over MAX_VALUE_BYTES (the manifest's cell bound): the size is
 * bounded *before* the result is built, so a `"with"` of 1 KB over every character of a 1 MB prompt
 * is refused instead of allocating a gigabyte.
 */
import { createHash } from 'node:crypto';
import vm from 'node:vm';
import type { ReplaceSpec } from './types.js';

/** The largest value a patch may produce: the same 1 MiB as a manifest cell (SPEC §3). */
export const MAX_VALUE_BYTES = 1024 * 1024;
/** Time one regex replace (or test) may take. Ordinary patterns on 100 KB prompts take well under 1 ms. */
export const REGEX_TIME_LIMIT_MS = 250;

export class ReplaceError extends Error {}

const context = vm.createContext(Object.create(null) as object);
/**
 * Runs inside the context: counts the matches and bounds the result's size (a `$` in `with` may insert
 * up to the whole text, `` $` `` / `$'`, or the match, `$&` / `$n`), then replaces. `limit` null = too big.
 */
const BOUNDED_REPLACE = new vm.Script(`
  (() => {
    const wide = w.includes('$\`') || w.includes("$'");
    const dollars = w.split('$').length - 1;
    let size = s.length;
    for (const m of s.matchAll(re)) {
      size += w.length + dollars * (wide ? s.length : m[0].length) - m[0].length;
      if (size > max) return null;
    }
    return s.replace(re, w);
  })()
`);
const BOUNDED_TEST = new vm.Script('re.test(s)');

/**
 * Time-outs, by script, pattern, flags and text: many rows with the same regex over the same text (a
 * fleet-wide `$replace` on agents sharing a prompt) pay the time limit once, not once per row (40 rows
 * had taken 10 s). Only time-outs are kept — a run that ends has its answer in well under the limit —
 * and at most MAX_REMEMBERED of them. The replacement is not part of the key: it does not change how
 * long the matching takes. The kind of run is: a test stops at its first match, a replace does not.
 */
const MAX_REMEMBERED = 64;
const timedOut = new Map<string, ReplaceError>();

function memoKey(script: vm.Script, values: Record<string, unknown>): string {
  const re = values.re as RegExp;
  return createHash('sha256').update(JSON.stringify([script === BOUNDED_TEST ? 'test' : 'replace', re.flags, re.source, values.s])).digest('base64');
}

function runBounded<T>(script: vm.Script, values: Record<string, unknown>): T {
  const key = memoKey(script, values);
  const known = timedOut.get(key);
  if (known) throw known;
  try {
    return runTimed<T>(script, values);
  } catch (error) {
    if (error instanceof ReplaceError) {
      if (timedOut.size >= MAX_REMEMBERED) timedOut.delete(timedOut.keys().next().value!);
      timedOut.set(key, error);
    }
    throw error;
  }
}

function runTimed<T>(script: vm.Script, values: Record<string, unknown>): T {
  Object.assign(context, values);
  try {
    return script.runInContext(context, { timeout: REGEX_TIME_LIMIT_MS }) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
      throw new ReplaceError(`the regular expression ran longer than ${REGEX_TIME_LIMIT_MS} ms (it backtracks catastrophically on this text); make it more specific`);
    }
    throw error;
  } finally {
    for (const key of Object.keys(values)) delete (context as Record<string, unknown>)[key];
  }
}

function tooBig(): never {
  throw new ReplaceError(`the result would be larger than ${MAX_VALUE_BYTES} bytes`);
}

/** Every occurrence of `find` in `text` replaced (literal: `with` is never read as a `$&`-style pattern). */
export function applyReplace(text: string, spec: ReplaceSpec): string {
  if (spec.regex) {
    const out = runBounded<string | null>(BOUNDED_REPLACE, { s: text, re: new RegExp(spec.find, `g${spec.flags ?? ''}`), w: spec.with, max: MAX_VALUE_BYTES });
    return out ?? tooBig();
  }
  const parts = text.split(spec.find);
  if (text.length + (parts.length - 1) * (spec.with.length - spec.find.length) > MAX_VALUE_BYTES) tooBig();
  return parts.join(spec.with);
}

/** `pattern` (with `flags`) matches somewhere in `text`, within the time limit. */
export function regexMatches(pattern: string, flags: string, text: string): boolean {
  return runBounded<boolean>(BOUNDED_TEST, { s: text, re: new RegExp(pattern, flags) });
}

/**
 * A pattern that may backtrack catastrophically: a quantified group that itself holds a quantifier
 * (`(\w+\s?)+`, `(a*)*`, `(x+){2,}`). A heuristic for `validate`'s warning; the time limit is the guard.
 */
export function looksCatastrophic(pattern: string): boolean {
  return /\((?:[^()\\]|\\.)*(?:[+*]|\{\d+,\d*\})(?:[^()\\]|\\.)*\)(?:[+*]|\{\d+,\d*\})/.test(pattern);
}
