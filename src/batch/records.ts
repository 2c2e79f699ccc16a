/**
 * The batch's records: its options and metadata, an agent's record, the counts by status. The store
 * keeps them (src/store, whose codecs alone know their fields in Redis); everything else reads them
 * here. The statuses and their life cycle are lifecycle.ts's. Types only.
 */
import type { Agent } from '../api/types.js';
import type { AgentStatus, BatchStatus } from './lifecycle.js';

/**
 * The most requests per second any rate may be (a flag, the config file, a journal, an archive, a drift
 * schedule): above it a rate is no limit at all, and every reader of a stored rate takes what a writer may.
 */
export const MAX_RATE = 100_000;

export interface BatchOptions {
  /** API requests per second shared by every worker of the batch. */
  rate: number;
  /** Attempts per agent for retryable failures (BullMQ attempts). */
  attempts: number;
  /** First retry delay; doubles each attempt, with jitter, up to `backoffCapMs`. */
  backoffMs: number;
  backoffCapMs: number;
  /** No request succeeding for this long while errors go on halts the batch (api_unreachable). Default 60 s. */
  outageHaltMs?: number;
  /** Made by `apply` from a plan (SPEC §12): an unmet precondition is drift since the plan, a `conflict`. */
  planned?: boolean;
  /** PATCHes per second at most, inside `rate`, shared by every batch on the API key (`--write-rate`, SPEC §15). */
  writeRate?: number;
  /** An applied plan's agent is PATCHed without a GET only if a list row read this recently confirms it (SPEC §15). */
  freshnessMs?: number;
}

export const DEFAULT_OUTAGE_HALT_MS = 60_000;

/** How recent a list row must be to confirm an applied plan's agent has not moved (`apply --freshness`). */
export const DEFAULT_FRESHNESS_MS = 30_000;

export interface BatchMeta {
  id: string;
  kind: 'rollout' | 'rollback';
  /** The manifest as given on the command line, and the SHA-256 of its bytes. */
  manifest: string;
  digest: string;
  createdAt: number;
  status: BatchStatus;
  /** Agents registered so far (all of them once `enqueued`). */
  total: number;
  /** Of them, recorded `unchanged` at submit without a request (an applied plan's): not in the waves' targets. */
  settled?: number;
  /** True once every row of the manifest has been registered and enqueued. */
  enqueued: boolean;
  options: BatchOptions;
  finishedAt?: number;
  /** Why it halted (or was cut), as `kind: detail` text; `haltKind(meta)` reads its kind (batch/halt.ts). */
  haltReason?: string;
  /**
   * For a rollback: the batch it rolls back. `force`: conflicts are overridden (a rollback's `--force`;
   * a rollout's `retry --force`, whose later attempts then overwrite edits made since the first).
   */
  rollbackOf?: string;
  force?: boolean;
  /** The latest rollback made of this batch: while it is unfinished, another rollback attaches to it. */
  rollbackId?: string;
  /** Staged rollout (SPEC §9): cumulative agent targets of the waves, and the current wave (0-based). */
  waves?: number[];
  wave?: number;
  /** When the current wave finished (Redis time, ms); the bake starts then. */
  waveDoneAt?: number;
  bakeMs?: number;
  /** Pause after each wave until `approve`; `approvedWave` is the last wave approved to move on from. */
  approve?: boolean;
  /** `--four-eyes`: an `approve` by the batch's submitter is refused (SPEC §16). */
  fourEyes?: boolean;
  /** Who submitted it (`NOVA_FLEET_ACTOR`, else user@host). */
  submittedBy?: string;
  approvedWave?: number;
  /** Error budget: the batch halts when more than this many agents have failed. */
  maxFailures?: number;
  autoRollback?: boolean;
  /** The rollback started automatically after a halt. */
  autoRollbackId?: string;
  /** Maintenance window (SPEC §9): no request before `startAt`, only inside `window`, none after `deadline` (ms). */
  startAt?: number;
  window?: string;
  deadline?: number;
  /** The deadline passed and its agents are being skipped (a retry waits until that is done). */
  deadlineSkipping?: boolean;
  /** When the window next opens or closes (for status). */
  windowNext?: number;
  /** Run after each wave; non-zero halts (hooks.ts). */
  verifyCmd?: string;
  /** Environment variables (names) the verify command gets from its worker, beyond the basics. */
  verifyEnv?: string[];
  /** POST a JSON event here on wave done, halt, completion. */
  notifyUrl?: string;
  /** Waves judged by the agents' calls (SPEC §14): the rule, read by the controller after each bake. */
  gate?: CallsGate;
  /**
   * Completion waits for the controller (a gated batch's last wave is judged before the batch may end):
   * the completion rule in Lua leaves such a batch running; the controller ends it once judged.
   */
  holdCompletion?: boolean;
  /** Orgs whose key the API refused repeatedly (SPEC §10), with the server's words: their agents wait. */
  blockedOrgs?: Record<string, string>;
  /** The auth scheme each org's key was accepted with (`auto` finds it). */
  authSchemes?: Record<string, string>;
}

/** The staged-rollout controls a batch is created with. */
export type RolloutControls = Pick<BatchMeta, 'waves' | 'bakeMs' | 'approve' | 'maxFailures' | 'autoRollback' | 'startAt' | 'window' | 'deadline' | 'verifyCmd' | 'verifyEnv' | 'notifyUrl' | 'gate' | 'holdCompletion' | 'fourEyes'>;

/** A calls gate (SPEC §14): the completion rate of the changed agents' calls against a control's. */
export interface CallsGate {
  kind: 'calls';
  /** The largest drop tolerated, as a fraction (0.05: 5 percentage points). */
  maxDrop: number;
  confidence: number;
  /** Fewer calls in either cohort: the bake is extended, up to `timeoutMs`. */
  minCalls: number;
  /** How long after a wave's end its judgement may wait for enough calls before the batch halts (ms). */
  timeoutMs: number;
  /** The most pages (100 calls each) read per org for one judgement. */
  maxPages: number;
}

export type Counts = Record<AgentStatus, number>;

export interface AgentRecord {
  key: string;
  status: AgentStatus;
  attempts: number;
  error?: string;
  /** Top-level fields the batch changed (or, for unchanged, would have). */
  changed?: string[];
  before?: Agent;
  after?: Agent;
}

/** The kinds of API request a batch sends (SPEC §15): the agent's GET and PATCH, list pages, calls pages. */
export const REQUEST_KINDS = ['get', 'patch', 'list', 'calls'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];
export type RequestCounts = Record<RequestKind, number>;
