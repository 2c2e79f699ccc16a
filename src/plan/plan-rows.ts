/**
 * A planned agent as a manifest row (pure; SPEC §12): its patch sets exactly the desired values the
 * plan showed — `$replace` and files already resolved, so what was reviewed is what is sent — and its
 * precondition is every value the plan saw where it changes something, so drift since the plan is
 * caught on the agent as the worker reads it; the row's own `expect` stays. A value the plan saw
 * absent is not a precondition (a precondition compares JSON values, and "absent" is none).
 */
import type { Json } from '../api/types.js';
import type { AgentPlan } from './plan.js';

export interface PlannedRow {
  org_id: string;
  agent_id: string;
  patch: Record<string, Json>;
  expect?: Record<string, Json>;
  /** The agent as the plan read it, for a PATCH without a GET when it has not moved since (SPEC §15). */
  planned?: { before: Record<string, Json> };
}

/** The row for a `change` agent, or undefined for any other (unchanged, missing… are not applied). */
export function plannedRow(plan: AgentPlan, options: { force?: boolean } = {}): PlannedRow | undefined {
  if (plan.status !== 'change' || !plan.changes?.length) return undefined;
  const patch: Record<string, Json> = {};
  const expect: Record<string, Json> = {};
  for (const change of plan.changes) {
    // A deleted value is `null` in a merge patch (RFC 7396).
    setPath(patch, change.path.split('.'), change.after === undefined ? null : change.after);
    if (change.before !== undefined) expect[change.path] = change.before;
  }
  // --force lifts the guard against drift, never the row's own preconditions.
  const conditions = { ...(options.force ? {} : expect), ...plan.expect };
  // The plan's snapshot goes along only if it is the agent's and says when it was last changed.
  const before = plan.before && plan.before.id === plan.agent_id && typeof plan.before.updated_at === 'string' ? { planned: { before: plan.before as Record<string, Json> } } : {};
  return { org_id: plan.org_id, agent_id: plan.agent_id, patch, ...(Object.keys(conditions).length > 0 ? { expect: conditions } : {}), ...before };
}

/**
 * Where a planned value would be read as a directive (`$file`, `$template`, `$replace`, or any `$` key)
 * once it is a patch — a top-level field's value, or a key of an object field — or undefined. `plan`
 * resolves every directive, so its values are literal: a plan holding one was edited and sealed again,
 * and applying it would read a local file or act on the agent's current value instead of what was
 * reviewed.
 */
export function directiveInPlan(plan: AgentPlan): string | undefined {
  for (const change of plan.changes ?? []) {
    const depth = change.path.split('.').length;
    if (depth > 2) continue;
    const found = dollarKey(change.after, depth);
    if (found !== undefined) return `${change.path}${found}`;
  }
  return undefined;
}

function dollarKey(value: unknown, depth: number): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  for (const [key, item] of Object.entries(value)) {
    if (key.startsWith('$')) return ` (key "${key}")`;
    if (depth === 1) {
      const inner = dollarKey(item, 2);
      if (inner !== undefined) return `.${key}${inner}`;
    }
  }
  return undefined;
}

/** Sets a leaf, creating the objects on the way (paths were checked: no prototype keys). */
function setPath(target: Record<string, Json>, path: readonly string[], value: Json): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, Json>;
  }
  node[path.at(-1)!] = value;
}
