/**
 * Rollback (SPEC §6): a batch of its own, linked to the batch it undoes, run by the same engine (rate
 * limits, retries, snapshots — so it can itself be rolled back). For each agent the origin changed, it
 * restores the fields the origin touched to the origin's before snapshot; an agent changed by someone
 * else since (its touched fields differ from the origin's after snapshot) is a `conflict` and left
 * alone unless forced.
 *
 * Jobs carry no patch: at run time the processor reads the origin's record of the agent (restoration).
 */
import { randomBytes } from 'node:crypto';
import type { BatchStore } from '../store/batch-store.js';
import { FINAL_BATCH_STATUSES, type AgentStatus } from '../batch/lifecycle.js';
import type { BatchMeta, BatchOptions } from '../batch/records.js';
import { changedStatus, MAYBE_CHANGED } from '../batch/restore-plan.js';
import { cancelBatch, requireBatch } from './actions.js';
import { enqueueAgents } from '../store/job-queue.js';
import { restoreJob, type AgentJobData } from '../batch/job.js';
import { UsageError } from '../errors.js';

export { changedStatus, conflictingFields, MAYBE_CHANGED, restoration, type Restoration } from '../batch/restore-plan.js';

export interface RollbackInput {
  store: BatchStore;
  originId: string;
  /** Only these agent keys (`org_id/agent_id`); default every changed agent. */
  agents?: ReadonlySet<string>;
  force?: boolean;
  rate?: number;
  /** The controller's automatic rollback: any unfinished rollback of the origin is carried on with. */
  attachAny?: boolean;
  /** Who asks for it (SPEC §16); an automatic rollback's is the tool's own name for it. */
  submittedBy?: string;
}

export interface RollbackResult {
  meta: BatchMeta;
  enqueued: number;
  cancelledOrigin: boolean;
  /** An unfinished rollback of the origin existed (an interrupted `rollback --run`): carried on with. */
  attached: boolean;
}

export async function createRollback(input: RollbackInput): Promise<RollbackResult> {
  const { store, originId } = input;
  const origin = await requireBatch(store, originId);
  // A rollback of this batch that has not finished (a Ctrl-C during `rollback --run`, the command given
  // twice): carried on with, never a second one — two rollbacks of one batch would both restore the same
  // agents, the later finding them restored already and saying `restored` with no PATCH sent.
  const open = origin.rollbackId ? await store.getBatch(origin.rollbackId) : undefined;
  if (open && !FINAL_BATCH_STATUSES.has(open.status)) {
    if (!input.attachAny && (input.agents || (input.force ?? false) !== (open.force ?? false))) {
      throw new UsageError(
        `batch ${originId} is already being rolled back by batch ${open.id} (${open.status}${open.force ? ', --force' : ''})`,
        `let it finish (\`nova-fleet resume ${open.id} --run\` or a worker), or \`nova-fleet cancel ${open.id}\` first to roll back differently`,
      );
    }
    // Its enqueue was cut short: the rest is enqueued now (job ids dedupe what is there).
    const enqueued = open.enqueued ? 0 : await enqueueRollback(store, origin, open, input.agents);
    return { meta: (await store.getBatch(open.id))!, enqueued, cancelledOrigin: false, attached: true };
  }
  // Rolling back a batch that is still going: first stop what has not started.
  let cancelledOrigin = false;
  if (!FINAL_BATCH_STATUSES.has(origin.status)) {
    await cancelBatch(store, originId);
    cancelledOrigin = true;
  }
  const suffix = [...randomBytes(4)].map((b) => '0123456789abcdefghijklmnopqrstuvwxyz'[b % 36]).join('');
  const id = `${originId.slice(0, 60)}-rollback-${suffix}`;
  const options: BatchOptions = { ...origin.options, ...(input.rate ? { rate: input.rate } : {}) };
  // Named on the origin first: a command cut short between the two lines leaves a name without a batch
  // (the next rollback makes a new one), never a rollback nobody finds.
  await store.setMeta(originId, { rollbackId: id });
  const { meta } = await store.createBatch({
    id,
    kind: 'rollback',
    manifest: `rollback of ${originId}`,
    digest: originId,
    createdAt: Date.now(),
    status: 'running',
    total: 0,
    enqueued: false,
    options,
    rollbackOf: originId,
    force: input.force ?? false,
    ...(input.submittedBy ? { submittedBy: input.submittedBy } : {}),
  });
  const enqueued = await enqueueRollback(store, origin, meta, input.agents);
  return { meta: (await store.getBatch(id))!, enqueued, cancelledOrigin, attached: false };
}

/** Enqueues the rollback `meta` of `origin`'s changed agents (or those of `agents`), and marks it enqueued. */
async function enqueueRollback(store: BatchStore, origin: BatchMeta, meta: BatchMeta, agents: ReadonlySet<string> | undefined): Promise<number> {
  const changed = changedStatus(origin);
  // A cancelled origin's `skipped` agents may still turn out applied (their PATCH was in flight): the
  // processor decides from the record it finds when it runs.
  // Also every agent a PATCH may have reached whatever its record says (MAYBE_CHANGED): the processor
  // compares it with its before snapshot — one GET — and restores only what differs.
  const candidates = new Set<AgentStatus>([changed, ...MAYBE_CHANGED]);
  const queue = store.queue(meta.id);
  let enqueued = 0;
  try {
    for await (const pairs of store.scanStatuses(origin.id)) {
      const items: AgentJobData[] = pairs.filter(([key, status]) => candidates.has(status) && (!agents || agents.has(key))).map(([key]) => restoreJob(key));
      if (items.length > 0) enqueued += await enqueueAgents(store, queue, meta.id, meta.options, items);
    }
  } finally {
    await queue.close();
  }
  await store.markEnqueued(meta.id);
  await store.completeIfDone(meta.id);
  return enqueued;
}
