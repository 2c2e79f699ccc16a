/**
 * Glossary of the patch core.
 *
 * - row patch: what one manifest row asks for — top-level field → value. Nested objects of the agent
 *   are *merged* (RFC 7396: a key set to null is deleted), arrays and scalars are replaced.
 * - directive: a value computed rather than given — `{"$file": path}` (a file's text),
 *   `{"$template": path}` (a file's text with `{{NAME}}` filled from the row's vars) or
 *   `{"$replace": {find, with, regex?, flags?}}` (applied to the agent's current string).
 * - resolved patch: a row patch whose `$file`/`$template` have been replaced by their text; only
 *   `$replace` remains, since it needs the agent's current value.
 * - desired state: the full value of every top-level field the patch touches, computed from the
 *   agent's *first* before snapshot, so that re-running a job never applies `$replace` twice.
 */
import type { Json } from '../api/types.js';

export type { Json };

export interface ReplaceSpec {
  find: string;
  with: string;
  /** Treat `find` as a JavaScript regular expression (always applied globally). Default false. */
  regex?: boolean;
  /** Extra regex flags among `i`, `m`, `s`, `u` (only with `regex`). */
  flags?: string;
}

export type FileDirective = { $file: string };
export type TemplateDirective = { $template: string };
export type ReplaceDirective = { $replace: ReplaceSpec };
export type Directive = FileDirective | TemplateDirective | ReplaceDirective;

/** A value in a row patch as written in a manifest. */
export type PatchValue = null | boolean | number | string | PatchValue[] | Directive | { [key: string]: PatchValue };
export type RowPatch = Record<string, PatchValue>;

/** A value once `$file`/`$template` are resolved: only `$replace` remains. */
export type ResolvedValue = null | boolean | number | string | ResolvedValue[] | ReplaceDirective | { [key: string]: ResolvedValue };
export type ResolvedPatch = Record<string, ResolvedValue>;

export const DIRECTIVE_KEYS = ['$file', '$template', '$replace'] as const;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A directive is an object with exactly one key, one of `$file`, `$template`, `$replace`. */
export function isDirective(value: unknown): value is Directive {
  if (!isPlainObject(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (DIRECTIVE_KEYS as readonly string[]).includes(keys[0]!);
}

export function isReplace(value: unknown): value is ReplaceDirective {
  return isDirective(value) && '$replace' in value;
}
