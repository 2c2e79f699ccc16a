/**
 * A saved plan read for review (`plan show`, issue 30): agents whose diffs are identical are one group
 * — the diff once, with how many agents and which — so a plan of 10,000 agents that all get the same
 * new prompt reads as one change. Pure: fed the plan's agents one at a time, bounded in memory.
 */
import { createHash } from 'node:crypto';
import type { FieldChange } from '../patch/desired.js';
import type { AgentPlan, PlanStatus } from './plan.js';

/** Distinct diffs kept whole; agents beyond them are counted in `ungrouped` (their diffs all differ). */
export const MAX_GROUPS = 1000;
/** Agents named per group (the rest counted). */
export const NAMED_PER_GROUP = 5;

export interface DiffGroup {
  changes: FieldChange[];
  agents: number;
  /** The first agents of the group, as ORG_ID/AGENT_ID. */
  named: string[];
}

export interface PlanProblem {
  line: number;
  agent: string;
  status: Exclude<PlanStatus, 'change' | 'unchanged'>;
  error?: string;
}

export interface PlanGroups {
  agents: number;
  counts: Record<PlanStatus, number>;
  /** Biggest first; ties by their first agent's place in the plan. */
  groups: DiffGroup[];
  /** Changing agents past MAX_GROUPS distinct diffs: counted, not shown. */
  ungrouped: number;
  /** Agents that cannot change, at most 100 named; `counts` has them all. */
  problems: PlanProblem[];
}

export class PlanGrouper {
  readonly #groups = new Map<string, DiffGroup>();
  readonly #counts: Record<PlanStatus, number> = { change: 0, unchanged: 0, missing: 0, invalid: 0, skipped: 0, error: 0 };
  readonly #problems: PlanProblem[] = [];
  #agents = 0;
  #ungrouped = 0;

  add(plan: AgentPlan): void {
    this.#agents++;
    this.#counts[plan.status]++;
    const agent = `${plan.org_id}/${plan.agent_id}`;
    if (plan.status === 'change') {
      const changes = [...(plan.changes ?? [])].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      const key = createHash('sha1').update(JSON.stringify(changes.map((c) => [c.path, c.before ?? null, c.after ?? null, c.before === undefined, c.after === undefined]))).digest('hex');
      const group = this.#groups.get(key);
      if (group) {
        group.agents++;
        if (group.named.length < NAMED_PER_GROUP) group.named.push(agent);
      } else if (this.#groups.size < MAX_GROUPS) this.#groups.set(key, { changes, agents: 1, named: [agent] });
      else this.#ungrouped++;
    } else if (plan.status !== 'unchanged' && this.#problems.length < 100) {
      this.#problems.push({ line: plan.line, agent, status: plan.status, ...(plan.error ? { error: plan.error } : {}) });
    }
  }

  result(): PlanGroups {
    // A stable sort: equal groups keep the order their first agents had in the plan.
    const groups = [...this.#groups.values()].sort((a, b) => b.agents - a.agents);
    return { agents: this.#agents, counts: { ...this.#counts }, groups, ungrouped: this.#ungrouped, problems: [...this.#problems] };
  }
}
