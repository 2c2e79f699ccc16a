/**
 * One raw row → a checked manifest row (pure, but for a memo of the last patch checked, which gives
 * what checking would): ids, vars, the row's patch composed over the defaults, and the patch checked
 * field by field. File reads are the validator's job (files.ts).
 */
import { checkExpectation } from '../patch/expect.js';
import type { Agent, Json } from '../api/types.js';
import { FORBIDDEN_KEYS } from '../patch/fields.js';
import { composePatches } from '../patch/merge.js';
import { checkRowPatch, MAX_DEPTH, type RowPatchCheck, type RowPatchOptions, type FileRef } from '../patch/row-patch.js';
import { isPlainObject, type PatchValue, type RowPatch } from '../patch/types.js';
import type { ManifestIssue } from './errors.js';

const ID = /^[A-Za-z0-9._:-]+$/;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const MAX_ID_LENGTH = 256;

/**
 * The last patch checked and its result. A fleet-wide change repeats one patch on every row, and
 * checking it cold cost ~30 µs a row (a third of a 1,500-row validation, done again by submit); a
 * patch equal to the last one — same keys in the same order, same values — gets the same result
 * without the check. A different patch costs one comparison that stops at the first difference.
 */
let last: { patch: unknown; allowUnknownKeys: boolean; checked: RowPatchCheck } | undefined;

function checkPatch(patch: unknown, options: RowPatchOptions): RowPatchCheck {
  const allowUnknownKeys = options.allowUnknownKeys === true;
  if (last !== undefined && last.allowUnknownKeys === allowUnknownKeys && sameJson(last.patch, patch, 0)) return last.checked;
  const checked = checkRowPatch(patch, options);
  // Kept by reference: a checked row's patch is never changed afterwards (rows are read-only downstream).
  last = { patch, allowUnknownKeys, checked };
  return checked;
}

/** Equal JSON values, keys in the same order; false beyond the depth a patch may have (checked then). */
function sameJson(a: unknown, b: unknown, depth: number): boolean {
  if (a === b) return Object.is(a, b); // 0 and -0 are not the same patch
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || depth > MAX_DEPTH) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  for (let i = 0; i < keysA.length; i++) {
    const key = keysA[i]!;
    if (key !== keysB[i] || !sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

/** A row as the checks left it: what the rest of the tool reads (a job takes its part: batch/job.ts). */
export interface ManifestRow {
  line: number;
  orgId: string;
  agentId: string;
  /** The row's patch, defaults merged in, directives unresolved. */
  patch: RowPatch;
  vars: Record<string, string>;
  /** Preconditions checked on the agent right before its PATCH (SPEC §11): dotted path → JSON value. */
  expect?: Record<string, Json>;
  /** An applied plan's row: the agent as the plan read it (SPEC §15), kept as its before snapshot. */
  planned?: { before: Agent };
}

/** An applied plan's snapshot of the row's agent: an object of that agent with its `updated_at`, or what is wrong. */
function plannedSnapshot(value: unknown, agentId: unknown): { before: Agent } | string {
  const before = isPlainObject(value) ? value.before : undefined;
  if (!isPlainObject(before)) return 'must be {"before": the agent as the plan read it}';
  if (before.id !== agentId) return "the plan's snapshot is of another agent";
  if (typeof before.updated_at !== 'string') return "the plan's snapshot has no updated_at";
  return { before: before as Agent };
}

export interface Defaults {
  patch: RowPatch | undefined;
  vars: Record<string, string>;
  /** False when the defaults had issues (already reported): rows are then checked on their own. */
  valid: boolean;
}

export interface RowCheck {
  row: ManifestRow | undefined;
  issues: ManifestIssue[];
  files: FileRef[];
  /** Leaf paths the row's patch sets. */
  paths: string[];
}

/** Why an id is unusable, or undefined when it is fine. */
export function idProblem(value: unknown): string | undefined {
  if (value === undefined || value === null) return 'missing';
  if (typeof value !== 'string') return `must be a string, found ${Array.isArray(value) ? 'array' : typeof value}`;
  if (value.trim() === '') return 'empty';
  if (value.length > MAX_ID_LENGTH) return `longer than ${MAX_ID_LENGTH} characters`;
  if (!ID.test(value)) return 'contains characters outside [A-Za-z0-9._:-]';
  if (/^\.+$/.test(value)) return 'cannot be only dots';
  return undefined;
}

function checkVars(value: unknown, line: number, field: string, issues: ManifestIssue[]): Record<string, string> {
  const vars: Record<string, string> = {};
  if (value === undefined) return vars;
  if (!isPlainObject(value)) {
    issues.push({ line, field, message: 'must be an object of NAME → text' });
    return vars;
  }
  for (const [name, item] of Object.entries(value)) {
    if (FORBIDDEN_KEYS.has(name) || !VAR_NAME.test(name)) {
      issues.push({ line, field: `${field}.${name}`, message: 'a variable name is letters, digits and _, not starting with a digit' });
    } else if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean') {
      if (typeof item === 'number' && !Number.isFinite(item)) issues.push({ line, field: `${field}.${name}`, message: 'number out of range' });
      else vars[name] = String(item);
    } else {
      issues.push({ line, field: `${field}.${name}`, message: 'must be text (or a number or boolean)' });
    }
  }
  return vars;
}

/** The `defaults` of a JSON manifest: `{"patch": {...}, "vars"?: {...}}`. */
export function checkDefaults(value: unknown, line: number, options: RowPatchOptions = {}): { defaults: Defaults; issues: ManifestIssue[]; files: FileRef[] } {
  const issues: ManifestIssue[] = [];
  if (!isPlainObject(value)) {
    return { defaults: { patch: undefined, vars: {}, valid: false }, issues: [{ line, field: 'defaults', message: 'must be an object {"patch": {...}}' }], files: [] };
  }
  for (const key of Object.keys(value)) {
    if (key !== 'patch' && key !== 'vars') issues.push({ line, field: `defaults.${key}`, message: 'unknown key; defaults hold "patch" and "vars"' });
  }
  const vars = checkVars(value.vars, line, 'defaults.vars', issues);
  let files: FileRef[] = [];
  let patch: RowPatch | undefined;
  if (value.patch !== undefined) {
    const checked = checkRowPatch(value.patch, options);
    issues.push(...checked.errors.map((e) => ({ line, field: `defaults.${e.path}`, message: e.message })));
    files = checked.files;
    if (checked.errors.length === 0) patch = value.patch as RowPatch;
  }
  return { defaults: { patch, vars, valid: issues.length === 0 }, issues, files };
}

export function checkRow(line: number, value: unknown, defaults: Defaults | undefined, partial = false, options: RowPatchOptions & { planned?: boolean } = {}): RowCheck {
  const issues: ManifestIssue[] = [];
  const result: RowCheck = { row: undefined, issues, files: [], paths: [] };
  if (!isPlainObject(value)) {
    issues.push({ line, field: 'row', message: 'a row is an object {"org_id", "agent_id", "patch", "vars"?}' });
    return result;
  }
  for (const key of Object.keys(value)) {
    if (!['org_id', 'agent_id', 'patch', 'vars', 'expect'].includes(key) && !(key === 'planned' && options.planned)) {
      issues.push({ line, field: key, message: 'unknown key in a row; a row is {"org_id", "agent_id", "patch", "vars"?, "expect"?}' });
    }
  }
  for (const field of ['org_id', 'agent_id'] as const) {
    const problem = idProblem(value[field]);
    if (problem) issues.push({ line, field, message: problem });
  }
  const vars = { ...defaults?.vars, ...checkVars(value.vars, line, 'vars', issues) };
  if (value.expect !== undefined) issues.push(...checkExpectation(value.expect).map((p) => ({ line, field: p.path, message: p.message })));
  const planned = value.planned === undefined ? undefined : plannedSnapshot(value.planned, value.agent_id);
  if (typeof planned === 'string') issues.push({ line, field: 'planned', message: planned });
  const own = value.patch;
  if (own === undefined && defaults?.patch === undefined) {
    // With broken defaults the row may well rely on them: their issues are the ones to fix.
    if (defaults?.valid !== false && !partial) issues.push({ line, field: 'patch', message: 'missing: the row changes nothing' });
    return result;
  }
  const patch = (defaults?.patch !== undefined && own !== undefined ? composePatches(defaults.patch, own as PatchValue) : (own ?? defaults?.patch)) as unknown;
  const checked = checkPatch(patch, options);
  const followOn = (e: { path: string }) => partial && e.path === 'patch';
  issues.push(...checked.errors.filter((e) => !followOn(e)).map((e) => ({ line, field: e.path, message: e.message })));
  result.files = checked.files;
  result.paths = checked.paths;
  if (issues.length === 0) {
    result.row = { line, orgId: value.org_id as string, agentId: value.agent_id as string, patch: patch as RowPatch, vars, ...(value.expect !== undefined ? { expect: value.expect as Record<string, Json> } : {}), ...(planned && typeof planned !== 'string' ? { planned } : {}) };
  }
  return result;
}
