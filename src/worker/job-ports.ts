/**
 * What one agent's job needs from the process that runs it (processor.ts): its narrow store, the BullMQ
 * job as the processor reads it, and the batch's ports (ProcessorDeps, built by batch-deps.ts). Types
 * only, in a file of their own, so that the job's helpers (api-calls.ts, targets.ts) name them without
 * importing the processor that imports them.
 */
import type { Job } from 'bullmq';
import type { Agent } from '../api/types.js';
import type { NovaClient } from '../api/client.js';
import type { NovaApiError } from '../api/errors.js';
import type { RowPatch } from '../patch/types.js';
import type { BatchStore } from '../store/batch-store.js';
import type { AgentStatus, BatchStatus } from '../batch/lifecycle.js';
import type { BatchOptions, RequestKind } from '../batch/records.js';
import type { AgentJobData } from '../batch/job.js';
import type { RateLimiter } from './rate-limiter.js';
import type { ScheduleState } from '../batch/window.js';

/** The store commands one agent's job uses (a narrow door: tests give a fake, see test/processor.test.ts). */
export type ProcessorStore = Pick<BatchStore, 'beginWithLease' | 'releaseLease' | 'leasedElsewhere' | 'agentRecord' | 'finish' | 'finishAndRelease' | 'saveBefore' | 'uncountAttempt' | 'noteError' | 'loadBefore'>;

/** What of a BullMQ job the processor reads and calls. */
export type AgentJob = Pick<Job<AgentJobData>, 'data' | 'attemptsMade' | 'opts' | 'moveToDelayed' | 'promote'>;

export interface ProcessorDeps {
  store: ProcessorStore;
  client: Pick<NovaClient, 'getAgent' | 'patchAgent'>;
  batchId: string;
  options: BatchOptions;
  limiter: Pick<RateLimiter, 'acquire' | 'penalize' | 'stale'>;
  /** The batch's status, cached briefly by the caller; `fresh` reads Redis now. */
  batchStatus: (fresh?: boolean) => Promise<BatchStatus>;
  /** A request got the API's answer (cheap: the caller throttles what it writes). */
  onApiReachable?: () => void;
  /**
   * An applied plan's agent (SPEC §15): its `updated_at` on a list row read within the batch's freshness
   * (undefined if none), and the plan's snapshot of it.
   */
  listed?: (orgId: string, agentId: string) => Promise<string | undefined>;
  plannedBefore?: (key: string) => Promise<Agent | undefined>;
  /** Waits for a slot of the org key's write schedule (`--write-rate`); absent without one. */
  writeSlot?: (orgId: string) => Promise<void>;
  /** A request goes out now, of this kind (counted per batch, SPEC §15; cheap: kept in memory). */
  onRequest?: (kind: RequestKind) => void;
  /** A request met an API that looks down (see looksDown); the caller keeps the batch's outage clock. */
  onApiTrouble?: (error: NovaApiError) => Promise<'halted' | 'outage' | 'reachable'>;
  /** A 401/403 for this org's key (or no key for it); true once the org is blocked (SPEC §10). */
  onAuthRefused: (orgId: string, error: NovaApiError) => Promise<boolean>;
  /** The org's key was refused repeatedly: its agents wait, pending, sending nothing. */
  orgBlocked?: (orgId: string) => boolean;
  patch: (digest: string) => Promise<RowPatch>;
  file: (path: string) => Promise<string>;
  /** Whether the batch's start, window and deadline allow a request now (judged on the Redis clock). */
  schedule?: {
    (): ScheduleState;
    /** Reads the batch's metadata from Redis first. */
    (fresh: true): Promise<ScheduleState>;
  };
  /** The gate saw the batch's deadline pass: end the batch saying so (before this agent is skipped). */
  onDeadline?: () => Promise<void>;
  /** A rollout's later attempts may overwrite edits made by someone else since its first (retry --force). */
  force?: () => boolean;
  /** The id of the API key this org's requests use (its shared schedule, SPEC §10). */
  keyId?: (orgId: string) => string | undefined;
  /** Wakes the jobs of these batches that wait for the agent's lease (released by this job). */
  wake?: (agentKey: string, batchIds: string[]) => Promise<void>;
  /**
   * The worker's limit of in-flight requests (`--concurrency`, shared by its batches): `send` runs when
   * a place is free, told whether it had to wait for one. Without it, requests are not limited here.
   */
  inFlight?: <T>(send: (queued: boolean) => Promise<T>) => Promise<T>;
  /**
   * The status feed's version (status-feed.ts): changes with every published status change; undefined
   * while the feed is not live. Without it, a request that waited for a place reads the status again.
   */
  statusVersion?: () => number | undefined;
  /** Aborted when this worker stops taking work (a signal, close): no request starts after it. */
  stop?: AbortSignal;
  /** Redis refused a write for memory: the batch is halted `redis_full` (redis-full.ts), at most once a while. */
  onRedisFull?: () => Promise<void>;
  /** Set for a rollback batch: the batch it undoes, the status its changed agents carry, --force. */
  rollback?: {
    of: string;
    changed: AgentStatus;
    force: boolean;
    /** The origin's kept jobs, patches and files: what it asked of an agent it did not record as changed. */
    origin?: { job: (key: string) => Promise<AgentJobData | undefined>; patch: (digest: string) => Promise<RowPatch>; file: (path: string) => Promise<string> };
  };
}
