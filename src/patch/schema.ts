/**
 * zod schemas derived from the field catalogue (fields.ts), and the validation of a whole PATCH body
 * as the API sees it: only writable top-level fields, documented objects with known keys only,
 * free-form objects with their required keys, every value of its declared type and range.
 */
// The module's members, not its `z` object: the bundled CLI keeps only what is used (see scripts/bundle.mjs).
import * as z from 'zod';
import {
  FORBIDDEN_KEYS,
  READ_ONLY_FIELDS,
  WRITABLE_FIELDS,
  type FieldSpec,
  type LeafSpec,
} from './fields.js';

export interface FieldError {
  /** Dotted path of the offending value, e.g. `vad_config.sample_rate` ('' for the body itself). */
  readonly path: string;
  readonly message: string;
}

export type Validation<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Built once per spec: building a zod schema costs far more than running it. */
const leafSchemas = new WeakMap<LeafSpec, z.ZodType>();

export function leafSchema(spec: LeafSpec): z.ZodType {
  let schema = leafSchemas.get(spec);
  if (!schema) {
    schema = buildLeafSchema(spec);
    leafSchemas.set(spec, schema);
  }
  return schema;
}

function buildLeafSchema(spec: LeafSpec): z.ZodType {
  switch (spec.kind) {
    case 'string':
      return z.string();
    case 'boolean':
      return z.boolean();
    case 'enum':
      return z.enum(spec.values as [string, ...string[]]);
    case 'string[]':
      return z.array(z.string());
    case 'array':
      return z.array(z.unknown());
    case 'number': {
      let n = spec.int ? z.number().int() : z.number();
      if (spec.min !== undefined) n = spec.minExclusive ? n.gt(spec.min) : n.min(spec.min);
      if (spec.max !== undefined) n = n.max(spec.max);
      return n;
    }
  }
}

function mapValues<T, U>(record: Readonly<Record<string, T>>, fn: (value: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, fn(v)]));
}

/**
 * The schema of one top-level field's full value, as sent to (and accepted by) the API. `loose`
 * keeps unknown keys of documented objects: for merged values, whose extra keys came from the agent.
 */
export function fieldSchema(spec: FieldSpec, loose = false): z.ZodType {
  switch (spec.kind) {
    case 'object': {
      const shape = mapValues(spec.keys, (leaf) => leafSchema(leaf).optional());
      return loose ? z.looseObject(shape) : z.strictObject(shape);
    }
    case 'freeform':
      return z.looseObject(mapValues(spec.required, leafSchema));
    default:
      return leafSchema(spec);
  }
}

const fieldSchemas: Readonly<Record<string, z.ZodType>> = mapValues(WRITABLE_FIELDS, (spec) => fieldSchema(spec));
const looseFieldSchemas: Readonly<Record<string, z.ZodType>> = mapValues(WRITABLE_FIELDS, (spec) => fieldSchema(spec, true));

/** The loose schema of a writable field (see fieldSchema). */
export function looseFieldSchema(name: string): z.ZodType {
  const schema = looseFieldSchemas[name];
  if (schema === undefined) throw new RangeError(`not a writable field: ${name}`);
  return schema;
}

/** True when the issue's path names a key its parent object does not have at all. */
function isMissingKey(root: unknown, path: readonly PropertyKey[]): boolean {
  let parent: unknown = root;
  for (const key of path.slice(0, -1)) {
    if (typeof parent !== 'object' || parent === null) return false;
    parent = (parent as Record<PropertyKey, unknown>)[key];
  }
  const last = path.at(-1);
  return last !== undefined && typeof parent === 'object' && parent !== null && !Object.hasOwn(parent, last);
}

/** A human message for one zod issue, worded for operators rather than for TypeScript developers. */
function describeIssue(root: unknown, issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  if (isMissingKey(root, issue.path)) return 'required key is missing';
  if (issue.code === 'too_big' && typeof issue.maximum === 'number') return `must be ${issue.inclusive ? 'at most' : 'below'} ${issue.maximum}`;
  if (issue.code === 'too_small' && typeof issue.minimum === 'number') return `must be ${issue.inclusive ? 'at least' : 'above'} ${issue.minimum}`;
  return issue.message.replace(/^Invalid (input|option): /, '');
}

/** zod issues of `value` (validated under the name `prefix`) → FieldErrors with dotted paths. */
export function issuesToErrors(prefix: string, value: unknown, issues: readonly z.core.$ZodIssue[]): FieldError[] {
  return issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.'),
    message: describeIssue(value, issue),
  }));
}

/** Validate one top-level field's full value. */
export function validateField(name: string, value: unknown): FieldError[] {
  const schema = fieldSchemas[name];
  if (schema === undefined) return [{ path: name, message: 'unknown field' }];
  const result = schema.safeParse(value);
  return result.success ? [] : issuesToErrors(name, value, result.error.issues);
}

/** A PATCH body: top-level field name → full value. */
export type PatchBody = Record<string, unknown>;

/** Validate a whole PATCH body the way the Nova API does (SPEC §2, §8). */
export function validatePatchBody(body: unknown): Validation<PatchBody> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, errors: [{ path: '', message: 'body must be a JSON object' }] };
  }
  const errors: FieldError[] = [];
  for (const [name, value] of Object.entries(body)) {
    if (FORBIDDEN_KEYS.has(name)) errors.push({ path: name, message: 'forbidden key' });
    else if (READ_ONLY_FIELDS.has(name)) errors.push({ path: name, message: 'read-only field' });
    else errors.push(...validateField(name, value));
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: body as PatchBody };
}
