/**
 * Scheduled drift checks (SPEC §16): `drift BATCH --every 6h` registers one, `drift --stop BATCH`
 * removes it, and `worker` processes run them beside their pool (cli/worker.ts) — a BullMQ Worker on
 * the drift queue, one check at a time, at the check's pace. Each due occurrence of a batch's
 * schedule is one job, taken by one worker; it reads the batch's agents as `drift BATCH` does and POSTs a
 * `drift` event to the schedule's --notify URL when any differ. A schedule whose batch is gone (pruned)
 * removes itself; one whose data cannot be read is logged and skipped, never guessed.
 */
import { Worker, type Job } from 'bullmq';
import type { Logger } from '../log.js';
import { deliver, maskUrl } from '../controller/hooks.js';
import { recordAction } from './actor.js';
import { requireBatch } from './require-batch.js';
import { driftOf, type DriftReport } from './drift.js';
import { openStore, type ApiFlags, type RedisFlags } from './context.js';
import { BatchStore } from '../store/batch-store.js';
import { connectRedis } from '../store/connect.js';
import { DRIFT_QUEUE_NAME } from '../store/keys.js';
import { DriftCheckSchema, type DriftCheck, type DriftSchedule } from '../store/drift-schedules.js';

/** At most this many agents are named in one notification (the count is always whole). */
const NOTIFY_AGENTS = 100;

export interface DriftEvent {
  event: 'drift';
  batch: string;
  checked: number;
  drifted: number;
  agents: Array<{ org_id: string; agent_id: string; kind: 'changed' | 'gone'; fields: string[] }>;
  at: string;
}

export function driftEvent(report: DriftReport, at = new Date()): DriftEvent {
  return {
    event: 'drift',
    batch: report.batchId,
    checked: report.checked,
    drifted: report.drifted.length,
    agents: report.drifted.slice(0, NOTIFY_AGENTS).map((d) => ({ org_id: d.org_id, agent_id: d.agent_id, kind: d.kind, fields: [...new Set(d.changes.map((c) => c.path))] })),
    at: at.toISOString(),
  };
}

/** `drift BATCH --every D [--notify URL]`: the batch's check registered (replacing an earlier one). */
export async function scheduleDrift(batchId: string, everyMs: number, flags: RedisFlags & ApiFlags & { notify?: string }): Promise<void> {
  const ctx = await openStore(flags);
  try {
    await requireBatch(ctx.store, batchId);
    await ctx.store.driftChecks.schedule({ batch: batchId, ...(flags.notify ? { notify: flags.notify } : {}), ...(flags.rate ? { rate: flags.rate } : {}) }, everyMs);
    await recordAction(ctx.store, 'drift-schedule', { batch: batchId, reason: flags.reason, detail: `every ${everyMs / 1000} s${flags.notify ? `, notify ${maskUrl(flags.notify)}` : ''}` });
  } finally {
    ctx.close();
  }
}

/** `drift --stop BATCH`: false if the batch had no schedule. */
export async function stopDrift(batchId: string, flags: RedisFlags): Promise<boolean> {
  const ctx = await openStore(flags);
  try {
    const stopped = await ctx.store.driftChecks.stop(batchId);
    if (stopped) await recordAction(ctx.store, 'drift-stop', { batch: batchId, reason: flags.reason });
    return stopped;
  } finally {
    ctx.close();
  }
}

/** `drift --list`: every scheduled check under the prefix. */
export async function listDrift(flags: RedisFlags): Promise<DriftSchedule[]> {
  const ctx = await openStore(flags, { readOnly: true });
  try {
    return await ctx.store.driftChecks.list();
  } finally {
    ctx.close();
  }
}

export interface DriftChecksOptions {
  redisUrl: string;
  prefix: string;
  /** The worker's own API and Redis settings: a check reads with this process's key(s). */
  flags: RedisFlags & ApiFlags;
  log?: Logger;
}

export type DriftOutcome = { batch: string; checked: number; drifted: number } | { skipped: string };

export function startDriftChecks(options: DriftChecksOptions): { close(): Promise<void> } {
  const command = connectRedis(options.redisUrl);
  const store = new BatchStore(command, options.prefix);
  const connection = connectRedis(options.redisUrl, { blocking: true });
  const log = options.log;
  const worker = new Worker<DriftCheck>(
    DRIFT_QUEUE_NAME,
    async (job: Job<DriftCheck>): Promise<DriftOutcome> => {
      const parsed = DriftCheckSchema.safeParse(job.data);
      if (!parsed.success) {
        log?.warn({ scheduler: job.repeatJobKey }, 'drift check skipped: its data is not one nova-fleet wrote');
        return { skipped: 'unreadable' };
      }
      const check = parsed.data;
      if (!(await store.getBatch(check.batch))) {
        await store.driftChecks.stop(check.batch);
        log?.info({ batch: check.batch }, 'drift check removed: its batch is gone');
        return { skipped: 'batch gone' };
      }
      const report = await driftOf(check.batch, { ...options.flags, ...(check.rate ? { rate: check.rate } : {}) }, { note: (line) => log?.info({ batch: check.batch }, line) });
      const fields = { batch: check.batch, checked: report.checked, drifted: report.drifted.length, requests: report.requests };
      if (report.drifted.length === 0) log?.info(fields, 'drift check: no drift');
      else {
        log?.warn(fields, `drift check: ${report.drifted.length} of ${report.checked} agents differ from how the batch left them`);
        if (check.notify) await deliver(check.notify, driftEvent(report), (error) => log?.error({ batch: check.batch, error: error.message }, 'drift notification failed'));
      }
      return { batch: check.batch, checked: report.checked, drifted: report.drifted.length };
    },
    { connection, prefix: store.driftChecks.queuePrefix, concurrency: 1 },
  );
  worker.on('error', (error) => log?.error({ error: error.message }, 'drift checks: worker error'));
  worker.on('failed', (job, error) => log?.error({ batch: job?.data?.batch, error: error.message }, 'drift check failed; the next falls due on schedule'));
  return {
    async close() {
      await worker.close();
      connection.disconnect();
      command.disconnect();
    },
  };
}
