/**
 * Migrations as code (SPEC §12): a module whose default export is `defineMigration({ select,
 * transform, expect? })`. `transform(agent)` computes the agent's patch from its current state (cap a
 * value, move a key between objects) or returns null/undefined to leave it. It runs at plan time only:
 * the plan records its result, and `apply` sends that — workers never load user code.
 */
import type { Agent, Json } from '../api/types.js';
import { checkExpectation } from '../patch/expect.js';
import { checkSelector, type Selector } from '../select/selector.js';

/** What a transform may return: a patch as in a manifest row (plain values, `$replace`), or nothing. */
export type MigrationPatch = Record<string, Json | { $replace: { find: string; with: string; regex?: boolean } }>;

export interface MigrationSpec {
  /** The agents it looks at (SPEC §11): orgs always named; `where` filters on the full agent. */
  select: Selector;
  /** The patch for this agent as it is now, or null/undefined to leave it. May be async. */
  transform: (agent: Agent) => MigrationPatch | null | undefined | Promise<MigrationPatch | null | undefined>;
  /** Preconditions kept in the plan: checked at plan time and again by the worker before the PATCH. */
  expect?: Record<string, Json>;
}

const BRAND = Symbol.for('nova-fleet.migration');

export interface Migration extends MigrationSpec {
  readonly [BRAND]: true;
}

/** Checks the selector and expect now (a typo fails at load, not after a 100k-agent listing). */
export function defineMigration(spec: MigrationSpec): Migration {
  if (typeof spec !== 'object' || spec === null) throw new TypeError('defineMigration takes { select, transform, expect? }');
  const problems = [...checkSelector(spec.select), ...(spec.expect !== undefined ? checkExpectation(spec.expect) : [])];
  if (typeof spec.transform !== 'function') problems.push({ path: 'transform', message: 'must be a function (agent) => patch | null' });
  if (problems.length > 0) throw new TypeError(`invalid migration: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  return { ...spec, [BRAND]: true };
}

export function isMigration(value: unknown): value is Migration {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
