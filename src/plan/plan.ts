/**
 * The dry run behind `nova-fleet plan`: GET every listed agent within the rate budget, compute the
 * desired state, and tally what would change. It never sends a PATCH and writes nothing anywhere but
 * the caller's `onAgent` (the --out file).
 */
import pLimit from 'p-limit';
import type { NovaClient } from '../api/client.js';
import { NovaApiError } from '../api/errors.js';
import type { Agent } from '../api/types.js';
import { InfraError } from '../errors.js';
import type { ManifestFiles } from '../manifest/files.js';
import type { ManifestRow } from '../manifest/types.js';
import { desiredState, type FieldChange } from '../patch/desired.js';
import { fileRefs, resolvePatch } from '../patch/resolve.js';
import { Pacer } from './pacer.js';

export type PlanStatus =
  | 'change' // the agent differs from the desired state: a PATCH would be sent
  | 'unchanged' // already as desired
  | 'missing' // 404
  | 'invalid' // the patch cannot apply to this agent (e.g. $replace on a missing string)
  | 'error'; // the agent could not be read (after retries)

export interface AgentPlan {
  line: number;
  org_id: string;
  agent_id: string;
  status: PlanStatus;
  changes?: FieldChange[];
  error?: string;
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
  /** API requests per second. */
  rate: number;
  /** Requests in flight at once. */
  concurrency: number;
  onAgent?: (plan: AgentPlan) => void | Promise<void>;
  /** Attempts per GET for retryable failures. Default 4. */
  attempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

const SAMPLES_PER_FIELD = 3;
const MAX_PROBLEMS = 100;

export async function planManifest(options: PlanOptions): Promise<PlanSummary> {
  const { client, files } = options;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const pacer = new Pacer(options.rate);
  const summary: PlanSummary = {
    agents: 0,
    counts: { change: 0, unchanged: 0, missing: 0, invalid: 0, error: 0 },
    fields: {},
    samples: [],
    problems: [],
  };
  const sampled = new Map<string, number>();
  let halt: Error | undefined;
  let anyRead = false;

  async function read(row: ManifestRow): Promise<Agent> {
    const attempts = options.attempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      await pacer.take();
      try {
        return await client.getAgent(row.orgId, row.agentId);
      } catch (error) {
        if (!(error instanceof NovaApiError) || !error.retryable || attempt >= attempts) throw error;
        if (error.kind === 'rate_limited' && error.retryAfterMs !== undefined) pacer.delay(error.retryAfterMs);
        await sleep(Math.min(10_000, error.retryAfterMs ?? 500 * 2 ** (attempt - 1)));
      }
    }
  }

  async function planOne(row: ManifestRow): Promise<void> {
    if (halt) return;
    const base = { line: row.line, org_id: row.orgId, agent_id: row.agentId };
    let result: AgentPlan;
    try {
      const agent = await read(row);
      anyRead = true;
      const texts = new Map<string, string>();
      for (const ref of fileRefs(row.patch)) texts.set(ref, await files.text(ref));
      const desired = desiredState(agent, resolvePatch(row.patch, row.vars, (ref) => texts.get(ref)!));
      if (!desired.ok) {
        result = { ...base, status: 'invalid', error: desired.errors.map((e) => `${e.path}: ${e.message}`).join('; ') };
      } else if (desired.changes.length === 0) {
        result = { ...base, status: 'unchanged' };
      } else {
        result = { ...base, status: 'change', changes: desired.changes };
      }
    } catch (error) {
      if (error instanceof NovaApiError && error.kind === 'auth') {
        halt ??= new InfraError(`the API refused the key (${error.status}): ${error.serverMessage ?? ''}`.trim(), 'check NOVA_API_KEY and --auth');
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
