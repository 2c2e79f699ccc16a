/**
 * CSV cells → typed values, by the field's declared type (SPEC §3): `"0.7"` → 0.7 for a number,
 * `"true"` → true, a JSON array for an array field. A cell that does not coerce is an error; nothing
 * is guessed (`0x10`, `1e400`, `yes` are refused rather than read as something else).
 */
import type { FieldSpec } from '../patch/fields.js';

export type Coerced = { ok: true; value: unknown } | { ok: false; message: string };

/**
 * Linear on any input: after `\d+` only a `.` may start the fraction, so no split of a digit run is
 * ever retried (the old `\d+\.?\d*` tried every split: a 120 KB numeric cell took 17.7 s to reject).
 */
const NUMBER = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;
/** No number an agent field takes is written with more characters than this. */
const MAX_NUMBER_CHARS = 100;

function json(text: string, what: string, check: (value: unknown) => boolean): Coerced {
  try {
    const value: unknown = JSON.parse(text);
    if (check(value)) return { ok: true, value };
  } catch {
    // fall through
  }
  return { ok: false, message: `expected ${what}, got ${preview(text)}` };
}

export function preview(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

/**
 * Coerce one non-empty cell. `spec` undefined: an undeclared key of a free-form object, read as JSON
 * when it is valid JSON and as text otherwise.
 */
export function coerceCell(spec: FieldSpec | undefined, text: string): Coerced {
  if (spec === undefined) {
    try {
      return { ok: true, value: JSON.parse(text) as unknown };
    } catch {
      return { ok: true, value: text };
    }
  }
  switch (spec.kind) {
    case 'string':
    case 'enum': // the enum's values are checked with the rest of the patch
      return { ok: true, value: text };
    case 'boolean': {
      const lower = text.trim().toLowerCase();
      if (lower === 'true' || lower === 'false') return { ok: true, value: lower === 'true' };
      return { ok: false, message: `expected true or false, got ${preview(text)}` };
    }
    case 'number': {
      const trimmed = text.trim();
      if (trimmed.length > MAX_NUMBER_CHARS || !NUMBER.test(trimmed)) return { ok: false, message: `expected a number, got ${preview(text)}` };
      const value = Number(trimmed);
      if (!Number.isFinite(value)) return { ok: false, message: `number out of range: ${preview(text)}` };
      return { ok: true, value };
    }
    case 'string[]':
      return json(text, 'a JSON array of strings such as ["a","b"]', (v) => Array.isArray(v) && v.every((s) => typeof s === 'string'));
    case 'array':
      return json(text, 'a JSON array', Array.isArray);
    case 'object':
    case 'freeform':
      return json(text, 'a JSON object', (v) => typeof v === 'object' && v !== null && !Array.isArray(v));
  }
}
