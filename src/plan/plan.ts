/**
 * The dry run behind `nova-fleet plan`: GET every listed agent within the rate budget, compute the
 * desired state, and tally what would change. It never sends a PATCH and writes nothing anywhere but
 * the caller's `onAgent` (the --out file).
 */
import pLimit from 'p-limit';
import type { NovaClient } from '../api/client.js';
import { NovaApiError } from '../api/errors.js';
import type { Agent, Json } from '../api/types.js';
import { InfraError } from '../errors.js';
import type { ManifestFiles } from '../manifest/files.js';
import type { ManifestRow } from '../manifest/types.js';
import { desiredState, type FieldChange } from '../patch/desired.js';
import { unmetExpectation } from '../patch/expect.js';
import { checkRowPatch } from '../patch/row-patch.js';
import type { RowPatch } from '../patch/types.js';
import { fileRefs, resolvePatch } from '../patch/resolve.js';
import { Pacer } from './pacer.js';
import { readAgent } from './read-agent.js';

export type PlanStatus =
  | 'change' // the agent differs from the desired state: a PATCH would be sent
  | 'unchanged' // already as desired
  | 'missing' // 404
  | 'invalid' // the patch cannot apply to this agent (e.g. $replace on a missing string)
  | 'skipped' // its preconditions (`expect`) do not hold now: it would be skipped
  | 'error'; // the agent could not be read (after retries), or a migration's transform threw

export interface AgentPlan {
  line: number;
  org_id: string;
  agent_id: string;
  status: PlanStatus;
  changes?: FieldChange[];
  /** The row's own preconditions, kept for `apply` beside the values the plan saw. */
  expect?: Record<string, Json>;
  error?: string;
  /**
   * A changing agent as the plan read it (SPEC §15): `apply` PATCHes it without a GET when the list
   * endpoint's `updated_at` shows it has not moved since, and keeps this as its before snapshot.
   */
  before?: Agent;
}

export interface PlanSummary {
  agents: number;
  counts: Record<PlanStatus, number>;
  /** Leaf path → agents whose value there would change. */
  fields: Record<string, number>;
  /** A few example changes per field. */
  samples: Array<{ org_id: string; agent_id: string; change: FieldChange }>;
  /** Agents not `change`/`unchanged`, the first 100. */
  problems: AgentPlan[];
}

export interface PlanOptions {
  rows: AsyncIterable<ManifestRow>;
  client: NovaClient;
  files: ManifestFiles;
  /** API requests per second, or a pace shared with whatever else reads the API meanwhile (a migration's listing). */
  pace: number | Pacer;
  /** Requests in flight at once. */
  concurrency: number;
  onAgent?: (plan: AgentPlan) => void | Promise<void>;
  /** A migration's `where`: an agent it does not hold for is not selected, and left out of the plan. */
  selects?: (agent: Agent) => boolean;
  /** A migration's transform: the patch for the agent as read (instead of the row's), or 'unchanged'. */
  derive?: (agent: Agent) => Promise<RowPatch | 'unchanged'>;
  /** Where an org's key comes from (for the message when the API refuses it). */
  refusedKey?: (error: NovaApiError) => Error;
  /** Attempts per GET for retryable failures. Default 4. */
  attempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

const SAMPLES_PER_FIELD = 3;
const MAX_PROBLEMS = 100;

export async function planManifest(options: PlanOptions): Promise<PlanSummary> {
  const { client, files } = options;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const pacer = typeof options.pace === 'number' ? new Pacer(options.pace) : options.pace;
  const summary: PlanSummary = {
    agents: 0,
    counts: { change: 0, unchanged: 0, missing: 0, invalid: 0, skipped: 0, error: 0 },
    fields: {},
    samples: [],
    problems: [],
  };
  const sampled = new Map<string, number>();
  let halt: Error | undefined;
  let anyRead = false;

  const read = (row: ManifestRow) => readAgent(client, row.orgId, row.agentId, pacer, options.attempts ?? 4, sleep);


  async function planOne(row: ManifestRow): Promise<void> {
    if (halt) return;
    const base = { line: row.line, org_id: row.orgId, agent_id: row.agentId, ...(row.expect ? { expect: row.expect } : {}) };
    let result: AgentPlan;
    try {
      const agent = await read(row);
      anyRead = true;
      if (options.selects && !options.selects(agent)) return;
      const unmet = unmetExpectation(agent, row.expect);
      // A transform is not asked about an agent its preconditions already rule out.
      const derived: Derived = unmet !== undefined ? { kind: 'leave' } : options.derive ? await derivedPatch(options.derive, agent) : { kind: 'patch', patch: row.patch };
      const texts = new Map<string, string>();
      const patch = derived.kind === 'patch' ? derived.patch : undefined;
      for (const ref of patch ? fileRefs(patch) : []) texts.set(ref, await files.text(ref));
      const desired = patch ? desiredState(agent, resolvePatch(patch, row.vars, (ref) => texts.get(ref)!)) : undefined;
      if (derived.kind === 'problem') {
        result = { ...base, status: derived.status, error: derived.error };
      } else if (unmet !== undefined) {
        result = { ...base, status: 'skipped', error: `precondition: ${unmet}` };
      } else if (!desired) {
        result = { ...base, status: 'unchanged' };
      } else if (!desired.ok) {
        result = { ...base, status: 'invalid', error: desired.errors.map((e) => `${e.path}: ${e.message}`).join('; ') };
      } else if (desired.changes.length === 0) {
        result = { ...base, status: 'unchanged' };
      } else {
        result = { ...base, status: 'change', changes: desired.changes, before: agent };
      }
    } catch (error) {
      if (error instanceof NovaApiError && error.kind === 'auth') {
        halt ??= options.refusedKey?.(error) ?? new InfraError(`the API refused the key of org ${row.orgId} (${error.status}${error.serverMessage ? `: ${error.serverMessage}` : ''})`, 'check the key of that org (its keys file line, or NOVA_API_KEY) and --auth');
        return;
      }
      if (error instanceof NovaApiError && !anyRead && (error.kind === 'network' || error.kind === 'timeout')) {
        // Nothing has been read at all: the API is unreachable, not this agent broken.
        halt ??= new InfraError(`the Nova API is unreachable: ${error.message}`, 'check NOVA_API_URL and the network');
        return;
      }
      if (error instanceof NovaApiError && error.kind === 'not_found') result = { ...base, status: 'missing', error: error.message };
      else result = { ...base, status: 'error', error: error instanceof Error ? error.message : String(error) };
    }
    tally(result);
    await options.onAgent?.(result);
  }

  function tally(plan: AgentPlan): void {
    summary.agents++;
    summary.counts[plan.status]++;
    if (plan.status !== 'change' && plan.status !== 'unchanged' && summary.problems.length < MAX_PROBLEMS) summary.problems.push(plan);
    for (const change of plan.changes ?? []) {
      summary.fields[change.path] = (summary.fields[change.path] ?? 0) + 1;
      const seen = sampled.get(change.path) ?? 0;
      if (seen < SAMPLES_PER_FIELD) {
        sampled.set(change.path, seen + 1);
        summary.samples.push({ org_id: plan.org_id, agent_id: plan.agent_id, change });
      }
    }
  }

  // Bounded: never more than twice the concurrency waiting, so a million rows are not all in memory.
  const limit = pLimit(options.concurrency);
  const inflight = new Set<Promise<void>>();
  for await (const row of options.rows) {
    if (halt) break;
    const task: Promise<void> = limit(() => planOne(row)).finally(() => inflight.delete(task));
    inflight.add(task);
    if (inflight.size >= options.concurrency * 2) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  if (halt) throw halt;
  summary.fields = Object.fromEntries(Object.entries(summary.fields).sort(([, a], [, b]) => b - a));
  return summary;
}

/** What a row's patch is for an agent: its own, a transform's, none, or a problem of that agent. */
type Derived = { kind: 'patch'; patch: RowPatch } | { kind: 'leave' } | { kind: 'problem'; status: 'error' | 'invalid'; error: string };

/** A transform's verdict on one agent; what it threw, or a patch that is not one, is that agent's problem. */
async function derivedPatch(derive: NonNullable<PlanOptions['derive']>, agent: Agent): Promise<Derived> {
  let patch: RowPatch | 'unchanged';
  try {
    patch = await derive(agent);
  } catch (error) {
    return { kind: 'problem', status: 'error', error: `transform threw: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (patch === 'unchanged') return { kind: 'leave' };
  const checked = checkRowPatch(patch);
  if (checked.errors.length > 0) return { kind: 'problem', status: 'invalid', error: `transform returned ${checked.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}` };
  if (checked.files.length > 0) return { kind: 'problem', status: 'invalid', error: 'transform returned a $file or $template: a migration computes values, it does not name files' };
  return { kind: 'patch', patch };
}
