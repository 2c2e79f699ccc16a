/**
 * Validation of one row's patch as written in a manifest (SPEC §3): before any agent is read, so it
 * checks what can be checked without one — field names, types, ranges, enums, directive shapes, and
 * hostile values (prototype keys, non-finite numbers, broken strings, absurd nesting).
 * The merged result is checked again against the API schema once the agent is known (desired.ts).
 */
import { FORBIDDEN_KEYS, READ_ONLY_FIELDS, WRITABLE_FIELDS, type FieldSpec, type LeafSpec } from './fields.js';
import { leafSchema, issuesToErrors, type FieldError } from './schema.js';
import { DIRECTIVE_KEYS, isDirective, isPlainObject } from './types.js';

/** Deeper than any agent field needs; stops recursion bombs before they reach a merge. */
export const MAX_DEPTH = 32;

export interface FileRef {
  /** The patch path the file feeds, e.g. `prompt_template`. */
  field: string;
  kind: '$file' | '$template';
  path: string;
}

export interface RowPatchCheck {
  errors: FieldError[];
  /** Every `$file`/`$template` the patch reads, for the manifest to check. */
  files: FileRef[];
  /** Leaf paths the patch sets (`name`, `vad_config.sample_rate`), for the summary. */
  paths: string[];
}

/** Levenshtein distance, for "did you mean" hints on misspelt field names. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

export function suggest(name: string, candidates: Iterable<string>): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = distance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 4)) ? ` (did you mean "${best}"?)` : '';
}

const isStringLeaf = (spec: FieldSpec | undefined) => spec?.kind === 'string';

export interface RowPatchOptions {
  /** Keys of free-form objects outside the vendor's list pass (`--allow-unknown-keys`). */
  allowUnknownKeys?: boolean;
}

export function checkRowPatch(patch: unknown, options: RowPatchOptions = {}): RowPatchCheck {
  const result: RowPatchCheck = { errors: [], files: [], paths: [] };
  const err = (path: string, message: string) => result.errors.push({ path, message });
  if (!isPlainObject(patch)) {
    err('patch', 'must be a JSON object of field → value');
    return result;
  }
  if (Object.keys(patch).length === 0) {
    err('patch', 'is empty: the row changes nothing');
    return result;
  }
  for (const [name, value] of Object.entries(patch)) {
    if (FORBIDDEN_KEYS.has(name)) err(name, 'forbidden key');
    else if (READ_ONLY_FIELDS.has(name)) err(name, 'read-only field: a PATCH neither changes nor restores it');
    else if (!Object.hasOwn(WRITABLE_FIELDS, name)) err(name, `unknown field${suggest(name, Object.keys(WRITABLE_FIELDS))}`);
    else checkHostile(name, value, 1, err) && checkField(name, WRITABLE_FIELDS[name]!, value, result, err, options);
  }
  return result;
}

/** Prototype keys, non-finite numbers, lone surrogates and nesting, anywhere in a value. */
function checkHostile(path: string, value: unknown, depth: number, err: (path: string, message: string) => void): boolean {
  if (depth > MAX_DEPTH) {
    err(path, `nested deeper than ${MAX_DEPTH} levels`);
    return false;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    err(path, 'number out of range');
    return false;
  }
  if (typeof value === 'string' && !value.isWellFormed()) {
    err(path, 'string contains an unpaired surrogate (\\ud800–\\udfff escape)');
    return false;
  }
  let ok = true;
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      ok = checkHostile(`${path}[${i}]`, item, depth + 1, err) && ok;
    });
  } else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.has(key)) {
        err(`${path}.${key}`, 'forbidden key');
        ok = false;
      } else ok = checkHostile(`${path}.${key}`, item, depth + 1, err) && ok;
    }
  }
  return ok;
}

function checkLeaf(path: string, spec: LeafSpec, value: unknown, err: (path: string, message: string) => void): void {
  const parsed = leafSchema(spec).safeParse(value);
  if (!parsed.success) for (const e of issuesToErrors(path, value, parsed.error.issues)) err(e.path, e.message);
}

/** A value that looks like a directive attempt: an object with a `$`-prefixed key. */
function directiveKey(value: unknown): string | undefined {
  if (!isPlainObject(value)) return undefined;
  return Object.keys(value).find((k) => k.startsWith('$'));
}

function checkDirective(path: string, value: Record<string, unknown>, result: RowPatchCheck, err: (path: string, message: string) => void): void {
  const keys = Object.keys(value);
  const key = keys.find((k) => k.startsWith('$'))!;
  if (!(DIRECTIVE_KEYS as readonly string[]).includes(key)) {
    err(path, `unknown directive "${key}"${suggest(key, DIRECTIVE_KEYS)}; use $file, $template or $replace`);
    return;
  }
  if (keys.length !== 1) {
    err(path, `a ${key} directive must be the only key of its object`);
    return;
  }
  const argument = (value as Record<string, unknown>)[key];
  if (key === '$file' || key === '$template') {
    if (typeof argument !== 'string' || argument.trim() === '') err(path, `${key} needs a file path (relative to the manifest)`);
    else result.files.push({ field: path, kind: key, path: argument });
    return;
  }
  // $replace
  if (!isPlainObject(argument)) {
    err(path, '$replace needs {"find": "...", "with": "..."}');
    return;
  }
  const unknown = Object.keys(argument).filter((k) => !['find', 'with', 'regex', 'flags'].includes(k));
  if (unknown.length > 0) err(path, `$replace: unknown key "${unknown[0]}"; allowed: find, with, regex, flags`);
  if (typeof argument.find !== 'string' || argument.find === '') err(path, '$replace.find must be a non-empty string');
  if (typeof argument.with !== 'string') err(path, '$replace.with must be a string');
  if (argument.regex !== undefined && typeof argument.regex !== 'boolean') err(path, '$replace.regex must be true or false');
  if (argument.flags !== undefined) {
    if (argument.regex !== true) err(path, '$replace.flags needs "regex": true');
    else if (typeof argument.flags !== 'string' || !/^[imsu]*$/.test(argument.flags)) err(path, '$replace.flags may only hold i, m, s, u');
  }
  if (argument.regex === true && typeof argument.find === 'string' && argument.find !== '') {
    try {
      new RegExp(argument.find, `g${typeof argument.flags === 'string' ? argument.flags : ''}`);
    } catch (error) {
      err(path, `$replace.find is not a valid regular expression: ${(error as Error).message}`);
    }
  }
}

/** One value at a path whose declared spec is a leaf (or unknown, inside a free-form object). */
function checkValue(path: string, spec: LeafSpec | undefined, value: unknown, result: RowPatchCheck, err: (path: string, message: string) => void): void {
  if (spec === undefined) {
    // An undeclared key of a free-form object: any JSON passes, but not a directive (no type to check it against).
    if (isDirective(value)) err(path, 'directives ($file, $template, $replace) are only allowed where a string is declared');
    else result.paths.push(path);
    return;
  }
  if (directiveKey(value) !== undefined && isStringLeaf(spec)) {
    checkDirective(path, value as Record<string, unknown>, result, err);
    result.paths.push(path);
    return;
  }
  if (directiveKey(value) !== undefined) {
    err(path, `directives ($file, $template, $replace) only apply to string fields; this one is ${describeSpec(spec)}`);
    return;
  }
  checkLeaf(path, spec, value, err);
  result.paths.push(path);
}

function describeSpec(spec: FieldSpec): string {
  switch (spec.kind) {
    case 'number':
      return spec.int ? 'an integer' : 'a number';
    case 'enum':
      return `one of ${spec.values.join(', ')}`;
    case 'string[]':
      return 'an array of strings';
    case 'array':
      return 'an array';
    case 'object':
    case 'freeform':
      return 'an object';
    default:
      return `a ${spec.kind}`;
  }
}

function checkField(name: string, spec: FieldSpec, value: unknown, result: RowPatchCheck, err: (path: string, message: string) => void, options: RowPatchOptions): void {
  if (spec.kind !== 'object' && spec.kind !== 'freeform') {
    if (value === null) err(name, 'cannot be null: the API cannot delete a top-level field');
    else checkValue(name, spec, value, result, err);
    return;
  }
  if (value === null) {
    err(name, 'cannot be null: the API cannot delete a top-level field');
    return;
  }
  if (!isPlainObject(value) || isDirective(value)) {
    err(name, `must be an object (merged into the agent's ${name}); directives only apply to string fields`);
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    const path = `${name}.${key}`;
    if (spec.kind === 'object') {
      if (!Object.hasOwn(spec.keys, key)) {
        err(path, `unknown key${suggest(key, Object.keys(spec.keys))}`);
        continue;
      }
      if (item === null) result.paths.push(path); // null deletes the key (RFC 7396)
      else checkValue(path, spec.keys[key]!, item, result, err);
    } else {
      const required = Object.hasOwn(spec.required, key) ? spec.required[key]! : undefined;
      const known = Object.hasOwn(spec.known, key) ? spec.known[key]! : undefined;
      if (!required && !known && !options.allowUnknownKeys) {
        err(path, `unknown key${suggest(key, [...Object.keys(spec.required), ...Object.keys(spec.known)])}; --allow-unknown-keys passes keys the vendor's SDK does not list`);
        continue;
      }
      if (item === null && required) err(path, `is required by the API and cannot be removed`);
      else if (item === null) result.paths.push(path);
      else checkValue(path, required ?? (known?.kind === 'any' ? undefined : known), item, result, err);
    }
  }
}
