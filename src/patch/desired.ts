/**
 * desiredState(current, patch): what each top-level field the patch touches must become, and which of
 * them actually differ (SPEC §4). Pure: the engine calls it with the agent's *first* before snapshot,
 * so a job that runs twice computes the same result and never applies `$replace` twice.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Json } from '../api/types.js';
import { WRITABLE_FIELDS } from './fields.js';
import { setOwn } from './merge.js';
import { applyReplace, looksCatastrophic, regexMatches, ReplaceError } from './replace.js';
import { looseFieldSchema, issuesToErrors, type FieldError } from './schema.js';
import { isDirective, isPlainObject, isReplace, type PatchValue, type ReplaceSpec, type ResolvedPatch, type ResolvedValue, type RowPatch } from './types.js';

export interface FieldChange {
  /** Leaf path: `name`, `vad_config.sample_rate`, `llm_config.params.top_p`. */
  path: string;
  /** Absent on the agent before: undefined. */
  before: Json | undefined;
  /** Deleted by the patch: undefined. */
  after: Json | undefined;
}

export type DesiredState =
  | {
      ok: true;
      /** The full desired value of every top-level field the patch touches. */
      desired: Record<string, Json>;
      /** The fields whose desired value differs from the current one: exactly what to PATCH. */
      body: Record<string, Json>;
      /** Leaf-level differences between current and desired. */
      changes: FieldChange[];
    }
  | { ok: false; errors: FieldError[] };

class ApplyError extends Error {
  constructor(readonly path: string, message: string) {
    super(message);
  }
}

export { applyReplace };

function apply(current: unknown, value: ResolvedValue, path: string): Json {
  if (isReplace(value)) {
    if (typeof current !== 'string') {
      throw new ApplyError(path, `$replace needs a string on the agent, found ${current === undefined ? 'nothing' : typeof current}`);
    }
    try {
      return applyReplace(current, value.$replace);
    } catch (error) {
      if (error instanceof ReplaceError) throw new ApplyError(path, `$replace: ${error.message}`);
      throw error;
    }
  }
  if (isPlainObject(value)) {
    // RFC 7396: merge key by key into the current object; null deletes.
    const result: Record<string, Json> = isPlainObject(current) ? { ...(current as Record<string, Json>) } : {};
    for (const [key, item] of Object.entries(value)) {
      if (item === null) delete result[key];
      else setOwn(result, key, apply(Object.hasOwn(result, key) ? result[key] : undefined, item, `${path}.${key}`));
    }
    return result;
  }
  return structuredClone(value) as Json;
}

export function diffValues(before: unknown, after: unknown, path: string, out: FieldChange[] = []): FieldChange[] {
  if (isDeepStrictEqual(before, after)) return out;
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    for (const key of keys) {
      diffValues(Object.hasOwn(before, key) ? before[key] : undefined, Object.hasOwn(after, key) ? after[key] : undefined, `${path}.${key}`, out);
    }
    return out;
  }
  out.push({ path, before: before as Json | undefined, after: after as Json | undefined });
  return out;
}

export function desiredState(current: Readonly<Record<string, unknown>>, patch: ResolvedPatch): DesiredState {
  const desired: Record<string, Json> = {};
  const body: Record<string, Json> = {};
  const changes: FieldChange[] = [];
  const errors: FieldError[] = [];
  for (const [field, value] of Object.entries(patch)) {
    const before = Object.hasOwn(current, field) ? current[field] : undefined;
    let after: Json;
    try {
      after = apply(before, value, field);
    } catch (error) {
      if (!(error instanceof ApplyError)) throw error;
      errors.push({ path: error.path, message: error.message });
      continue;
    }
    // The merged value must still be one the API accepts (e.g. a required key deleted, or missing on
    // the agent). Loose: keys the agent already had and the catalogue does not know are kept as they are.
    const spec = WRITABLE_FIELDS[field];
    const parsed = spec ? looseFieldSchema(field).safeParse(after) : undefined;
    if (parsed && !parsed.success) {
      errors.push(...issuesToErrors(field, after, parsed.error.issues));
      continue;
    }
    setOwn(desired, field, after);
    if (!isDeepStrictEqual(before, after)) {
      setOwn(body, field, after);
      diffValues(before, after, field, changes);
    }
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, desired, body, changes };
}

/** True when `agent` carries every desired value (the check of a PATCH response). */
export function carriesDesired(agent: Readonly<Record<string, unknown>>, desired: Readonly<Record<string, Json>>): string[] {
  return Object.keys(desired).filter((field) => !isDeepStrictEqual(agent[field], desired[field]));
}

/** Why `validate` warns about a `$replace` (the manifest is valid; the directive is risky). */
export type ReplaceWarning = { path: string; spec: ReplaceSpec; kind: 'not_idempotent' | 'catastrophic' };

/**
 * Risky `$replace` directives of a row patch (paths dotted):
 * - not idempotent: the result still contains what they find, so applied a second time they would
 *   change the text again ("Acme" → "Acme Corp" → "Acme Corp Corp"). nova-fleet applies each once per
 *   batch (from the first before snapshot); the warning is for a manifest run as a *new* batch over
 *   agents it already changed (`--new`, or a copy of the manifest);
 * - catastrophic: a regex whose nested quantifiers may backtrack for minutes (it is cut off at run time).
 */
export function replaceWarnings(patch: RowPatch): ReplaceWarning[] {
  const found: ReplaceWarning[] = [];
  const walk = (value: PatchValue, path: string) => {
    if (isReplace(value)) {
      const { find, regex, flags } = value.$replace;
      const text = value.$replace.with;
      if (regex && looksCatastrophic(find)) found.push({ path, spec: value.$replace, kind: 'catastrophic' });
      let again: boolean;
      try {
        again = regex ? regexMatches(find, flags ?? '', text) : text.includes(find);
      } catch {
        again = false; // too slow even on its own replacement: the catastrophic warning says why
      }
      if (again) found.push({ path, spec: value.$replace, kind: 'not_idempotent' });
    } else if (isPlainObject(value) && !isDirective(value)) {
      for (const [key, item] of Object.entries(value)) walk(item as PatchValue, `${path}.${key}`);
    }
  };
  for (const [field, value] of Object.entries(patch)) walk(value, field);
  return found;
}
