/**
 * The batch's life cycle (SPEC §4, §9, §13) in one place: the statuses a batch and an agent can be in,
 * and which statuses each step may leave from. TypeScript (control.ts, controller.ts, the worker) and
 * the Lua scripts (store/lua, through the generated `statuses.lua` include) take their status sets from
 * here — no list is written twice. Pure: no I/O.
 *
 *   scheduled ──start──▶ running ◀──window opens── waiting_window
 *       │                 │  ▲ ▲                        ▲
 *       │        pause ◀──┘  │ └── resume ── halted ◀───┤ budget / verify / key / outage
 *       │                    │                          │
 *       └──────────▶ waiting_approval (a wave done, --approve) ──approve──▶ running
 *   running ──last agent──▶ completed | completed_with_failures;  any unfinished ──cancel──▶ cancelled
 */

/** Per-agent statuses (SPEC §4); `restored` and `conflict` belong to rollbacks. */
export const AGENT_STATUSES = ['pending', 'applied', 'unchanged', 'failed', 'skipped', 'restored', 'conflict'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

/** Batch statuses (SPEC §9). */
export const BATCH_STATUSES = ['scheduled', 'waiting_window', 'running', 'paused', 'waiting_approval', 'halted', 'cancelled', 'completed', 'completed_with_failures'] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** A batch in one of these is over: nothing more runs (a retry may reopen it). */
export const FINAL_BATCH_STATUSES: ReadonlySet<BatchStatus> = new Set(['cancelled', 'completed', 'completed_with_failures']);
/** Every other status: the batch may still change agents. */
export const UNFINISHED_BATCH_STATUSES: readonly BatchStatus[] = BATCH_STATUSES.filter((s) => !FINAL_BATCH_STATUSES.has(s));

/**
 * The statuses each step may move a batch out of (its `from` list); the step's target is its name.
 * Lua steps (completion, the error budget, the outage clock) read theirs from statuses.lua.
 */
export const FROM = {
  /** The last pending agent finished: completed (or with failures). A halted batch stays halted. */
  complete: ['running', 'paused', 'waiting_window', 'scheduled', 'waiting_approval'],
  /** A failure beyond the error budget halts the batch (checked on every failure). */
  budgetHalt: ['running', 'waiting_approval', 'paused'],
  /** No request succeeded for the outage limit: halted (api_unreachable), agents stay pending. */
  outageHalt: ['running'],
  /** The key refused repeatedly: halted (bad_credentials). */
  authHalt: ['running'],
  /** A failed verification or a controller-seen budget excess. */
  gateHalt: ['running', 'waiting_approval'],
  pause: ['running', 'scheduled', 'waiting_window', 'waiting_approval'],
  /** A wave done under --approve waits; `approve` (or the controller) lets it go on. */
  awaitApproval: ['running'],
  approve: ['waiting_approval'],
  /** A deadline cuts any unfinished batch: cancelled, saying so. */
  deadline: UNFINISHED_BATCH_STATUSES,
  cancel: UNFINISHED_BATCH_STATUSES,
  /** `retry` reopens a finished batch; `retry --skipped` a cancelled one too. */
  reopen: ['completed_with_failures', 'completed'],
  reopenSkipped: ['completed_with_failures', 'completed', 'cancelled'],
} as const satisfies Record<string, readonly BatchStatus[]>;

/** Agent statuses a final outcome may replace: a cancel marks pending agents skipped, and one whose request was in flight must end as what really happened to it. */
export const OUTCOME_FROM: readonly AgentStatus[] = ['pending', 'skipped'];

/** The `statuses.lua` include: each FROM list as a Lua set, `FROM_<NAME>[status] == true`. */
export function luaStatusSets(): string {
  const lines = Object.entries(FROM).map(([name, list]) => `local FROM_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()} = {${list.map((s) => `${s} = true`).join(', ')}}`);
  return `-- generated from src/batch/lifecycle.ts (FROM): do not edit\n${lines.join('\n')}\n`;
}
