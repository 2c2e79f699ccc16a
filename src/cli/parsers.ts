/**
 * Flag value parsers for commander: each checks its input at the boundary and says exactly what it
 * expected (``Expected a whole number from 1 and up``), so bad flags exit 2 with a clear message.
 */
import { InvalidArgumentError } from 'commander';
import { ENV_NAME } from '../names.js';
import { MAX_RATE } from '../batch/records.js';

export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `from ${min} and up` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(`Expected a whole number ${range}.`);
    }
    return n;
  };
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError('Expected a number above 0.');
  }
  return n;
}


/** A rate flag: above 0, at most MAX_RATE (a batch made with more could not be read back from its journal). */
export function rateNumber(value: string): number {
  const n = positiveNumber(value);
  if (n > MAX_RATE) throw new InvalidArgumentError(`Expected at most ${MAX_RATE.toLocaleString('en')} per second (no API takes more; a higher figure is no limit at all).`);
  return n;
}

export function probability(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new InvalidArgumentError('Expected a probability from 0 to 1 (e.g. 0.05).');
  }
  return n;
}

/** `ID=STATUS,ID=STATUS` → record, e.g. `a1=422,a2=500`. */
export function agentStatuses(value: string): Record<string, number> {
  const result: Record<string, number> = {};
  for (const part of value.split(',').filter((p) => p.trim() !== '')) {
    const match = /^\s*([A-Za-z0-9._:-]+)\s*=\s*([1-5]\d\d)\s*$/.exec(part);
    if (!match) throw new InvalidArgumentError(`Expected AGENT_ID=STATUS pairs separated by commas, got "${part}".`);
    result[match[1]!] = Number(match[2]);
  }
  return result;
}

/** An ISO 8601 instant → epoch ms. */
export function parseInstant(text: string): number {
  const at = Date.parse(text);
  if (Number.isNaN(at) || !/^\d{4}-\d{2}-\d{2}/.test(text)) throw new RangeError(`"${text}" is not an ISO 8601 time such as 2026-12-05T02:00:00+01:00`);
  return at;
}

/** A parser that throws RangeError, as a commander argument parser (exit 2 with its message). */
export function flagParser<T>(parse: (text: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

export function positiveNumberOrZero(value: string): number {
  return value.trim() === '0' ? 0 : positiveNumber(value);
}

/**
 * A --deadline already past would skip every agent before one request: refused (exit 2). Only a batch
 * being created is checked — one attached to keeps the deadline it was given. (A rule of the batch's
 * controls: batch/controls.ts.)
 */
export { requireFutureDeadline } from '../batch/controls.js';

/** `--verify-env A B,C`: environment variable names. */
export function envNames(text: string, previous: string[] = []): string[] {
  const names = text.split(',').map((n) => n.trim()).filter(Boolean);
  const bad = names.find((n) => !ENV_NAME.test(n));
  if (bad !== undefined) throw new RangeError(`"${bad}" is not an environment variable name`);
  return [...previous, ...names];
}

export function parseHttpUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RangeError(`"${text}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`"${text}" is not an http(s) URL`);
  return url.toString();
}
