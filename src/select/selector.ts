/**
 * A selector (SPEC §11) as a manifest or a migration gives it — `{"orgs": [...], "type"?, "search"?,
 * "where"?: {PATH: VALUE}}` — checked offline (pure): `validate` refuses a bad one without calling the
 * API. Orgs are always named: a key belongs to one org, and a fleet change says which.
 */
import type { Json } from '../api/types.js';
import { WRITABLE_FIELDS } from '../patch/fields.js';
import { checkExpectation } from '../patch/expect.js';
import { isPlainObject } from '../patch/types.js';
import { idProblem } from '../manifest/row.js';
import type { Where } from './select.js';

export interface Selector {
  orgs: string[];
  type?: string;
  search?: string;
  /** Dotted path → the JSON value it must deep-equal; also every selected agent's precondition. */
  where?: Record<string, Json>;
}

const KEYS = new Set(['orgs', 'type', 'search', 'where']);
const MAX_ORGS = 1000;
const TYPES = (WRITABLE_FIELDS.type as { values: readonly string[] }).values;

/** Problems with a selector (path → message), none when it is valid. */
export function checkSelector(value: unknown): Array<{ path: string; message: string }> {
  if (!isPlainObject(value)) return [{ path: 'select', message: 'must be an object {"orgs": [...], "type"?, "search"?, "where"?}' }];
  const problems: Array<{ path: string; message: string }> = [];
  for (const key of Object.keys(value)) if (!KEYS.has(key)) problems.push({ path: `select.${key}`, message: 'unknown key; a selector holds "orgs", "type", "search" and "where"' });
  const orgs = value.orgs;
  if (!Array.isArray(orgs) || orgs.length === 0) problems.push({ path: 'select.orgs', message: 'must name at least one org (orgs are always named)' });
  else if (orgs.length > MAX_ORGS) problems.push({ path: 'select.orgs', message: `names more than ${MAX_ORGS} orgs` });
  else {
    const seen = new Set<unknown>();
    orgs.forEach((org, i) => {
      const problem = idProblem(org);
      if (problem) problems.push({ path: `select.orgs[${i}]`, message: problem });
      else if (seen.has(org)) problems.push({ path: `select.orgs[${i}]`, message: `"${String(org)}" is named twice` });
      seen.add(org);
    });
  }
  if (value.type !== undefined && !TYPES.includes(value.type as string)) problems.push({ path: 'select.type', message: `must be one of ${TYPES.join(', ')}` });
  if (value.search !== undefined && (typeof value.search !== 'string' || value.search.length === 0 || value.search.length > 200)) {
    problems.push({ path: 'select.search', message: 'must be text of 1 to 200 characters' });
  }
  if (value.where !== undefined) problems.push(...checkExpectation(value.where).map((p) => ({ path: `select.${p.path.replace(/^expect/, 'where')}`, message: p.message })));
  return problems;
}

/** A selector's `where` as `selectAgents` takes it. */
export function whereList(selector: Selector): Where[] {
  return Object.entries(selector.where ?? {}).map(([path, value]) => ({ path: path.split('.'), value }));
}

/** In words: "the agents of 2 orgs (o1, o2) of type voice where llm_config.model="gpt-4o"". */
export function describeSelector(selector: Selector): string {
  const where = Object.entries(selector.where ?? {}).map(([p, v]) => `${p}=${JSON.stringify(v)}`);
  const orgs = selector.orgs;
  return `the agents of ${orgs.length} org${orgs.length === 1 ? '' : 's'} (${orgs.slice(0, 5).join(', ')}${orgs.length > 5 ? ', …' : ''})${selector.type ? ` of type ${selector.type}` : ''}${selector.search ? ` matching "${selector.search}"` : ''}${where.length ? ` where ${where.join(' and ')}` : ''}`;
}
