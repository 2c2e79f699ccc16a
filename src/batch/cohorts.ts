/**
 * Which calls judge a wave (SPEC §14), pure: the **treated** cohort is the calls of agents the batch
 * changed, started after each one's change; the **control** cohort is the calls of the batch's agents
 * not yet changed, started in the same interval. With no control left (the last wave), the treated
 * agents' own calls in an interval of the same length just before their change stand in for it.
 *
 * Choices (README, "Waves judged by the calls"): only calls that are over count — one still
 * `in-progress` has no outcome yet; a call is its first agent's (`initial_agent_id`); rows without a
 * readable agent, status or start are counted apart (`unreadable`), never guessed.
 */
import type { CallRow } from '../api/types.js';
import type { Cohort } from './call-stats.js';

export interface CohortInput {
  /** Agent key (`org/agent`) → when the batch's change reached it (the API's `updated_at` of its after snapshot, ms). */
  changedAt: ReadonlyMap<string, number>;
  /** Agent keys of the batch not yet changed (later waves). */
  unchanged: ReadonlySet<string>;
  /** The interval judged: from the wave's end (or the first change) to now (ms). */
  from: number;
  to: number;
}

export interface Cohorts {
  mode: 'control' | 'before_after';
  treated: Cohort;
  control: Cohort;
  /** Calls over that belong to neither cohort's agents or times (other agents of the org, earlier calls). */
  outside: number;
  /** Calls still going: not counted. */
  inProgress: number;
  /** Rows that could not be read (no agent, status or start time). */
  unreadable: number;
}

/**
 * The intervals to read calls in, apart (each gets its own pages, so a busy "after" cannot crowd out a
 * "before"): the judged interval, and for before/after also each agent's interval of the same length
 * before its change — those that overlap merged, so agents changed in waves far apart are not read
 * across the time between.
 */
export function callsIntervals(input: CohortInput): Array<{ from: number; to: number }> {
  const judged = { from: input.from, to: input.to };
  if (input.unchanged.size > 0 || input.changedAt.size === 0) return [judged];
  const length = input.to - input.from;
  const before: Array<{ from: number; to: number }> = [];
  for (const change of [...new Set(input.changedAt.values())].sort((a, b) => a - b)) {
    const to = Math.min(change, input.from);
    const last = before.at(-1);
    if (last && change - length <= last.to) last.to = Math.max(last.to, to);
    else if (to > change - length) before.push({ from: change - length, to });
  }
  return [...before, judged];
}

export function buildCohorts(input: CohortInput, rows: Iterable<{ orgId: string; row: CallRow }>): Cohorts {
  const mode = input.unchanged.size > 0 ? 'control' : 'before_after';
  const length = input.to - input.from;
  const treated: Cohort = { calls: 0, completed: 0 };
  const control: Cohort = { calls: 0, completed: 0 };
  let outside = 0;
  let inProgress = 0;
  let unreadable = 0;
  for (const { orgId, row } of rows) {
    const started = typeof row.started_at === 'string' ? Date.parse(row.started_at) : NaN;
    if (typeof row.initial_agent_id !== 'string' || typeof row.status !== 'string' || Number.isNaN(started)) {
      unreadable++;
      continue;
    }
    if (row.status === 'in-progress' || row.status === 'ringing' || row.status === 'queued') {
      inProgress++;
      continue;
    }
    const key = `${orgId}/${row.initial_agent_id}`;
    const completed = row.status === 'completed' ? 1 : 0;
    const changed = input.changedAt.get(key);
    let into: Cohort | undefined;
    if (changed !== undefined && started >= changed && started >= input.from && started < input.to) into = treated;
    else if (mode === 'control' && input.unchanged.has(key) && started >= input.from && started < input.to) into = control;
    else if (mode === 'before_after' && changed !== undefined && started < changed && started >= changed - length) into = control;
    if (!into) {
      outside++;
      continue;
    }
    into.calls++;
    into.completed += completed;
  }
  return { mode, treated, control, outside, inProgress, unreadable };
}
