/**
 * Preconditions (SPEC §11): a row's `expect` — dotted paths of the agent and the JSON value each must
 * hold, compared deep-equal (numbers, booleans and objects, not only strings). Checked by the worker on
 * the agent as it reads it right before the PATCH; an agent that does not match is skipped. Pure.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Json } from '../api/types.js';
import { FORBIDDEN_KEYS } from './fields.js';
import { isPlainObject } from './types.js';

export type Expectation = Record<string, Json>;

/** The value at a dotted path (undefined when any step is missing). */
export function valueAt(agent: object, path: readonly string[]): Json | undefined {
  let node: unknown = agent;
  for (const key of path) {
    if (!isPlainObject(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node as Json;
}

/** A dotted path into an agent (`llm_config.model`): no empty step, no prototype key. */
export function isDottedPath(path: string): boolean {
  return path.split('.').every((step) => step !== '' && !FORBIDDEN_KEYS.has(step));
}

/** Problems with an `expect` object as a manifest gives it (path → message), none when valid. */
export function checkExpectation(value: unknown): Array<{ path: string; message: string }> {
  if (!isPlainObject(value)) return [{ path: 'expect', message: 'must be an object of PATH → value, e.g. {"llm_config.model": "gpt-4o"}' }];
  const problems: Array<{ path: string; message: string }> = [];
  const paths = Object.keys(value);
  if (paths.length === 0) problems.push({ path: 'expect', message: 'is empty' });
  if (paths.length > 1000) problems.push({ path: 'expect', message: 'holds more than 1000 conditions' });
  for (const path of paths) if (!isDottedPath(path)) problems.push({ path: `expect.${path}`, message: 'is not a dotted path such as llm_config.model' });
  return problems;
}

/** The first condition the agent does not meet, in words (`PATH is X, expected Y`), or undefined. */
export function unmetExpectation(agent: object, expect: Expectation | undefined): string | undefined {
  for (const [path, wanted] of Object.entries(expect ?? {})) {
    const actual = valueAt(agent, path.split('.'));
    if (!isDeepStrictEqual(actual, wanted)) return `${path} is ${actual === undefined ? 'absent' : show(actual)}, expected ${show(wanted)}`;
  }
  return undefined;
}

function show(value: Json): string {
  const text = JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}
