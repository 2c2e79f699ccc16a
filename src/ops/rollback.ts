/**
 * Rolling a batch back: the `--agents` list read and checked, a lost batch brought back from its
 * journal, the rollback batch created (or attached to) and, with --run, worked here. Exit 1 if any
 * agent conflicted or failed.
 */
import { readFile } from 'node:fs/promises';
import { requireRegularFile } from '../user-files.js';
import { parse } from 'csv-parse/sync';
import type { BatchView } from '../views/batch-view.js';
import type { BatchStatus } from '../batch/lifecycle.js';
import type { ExitCode } from '../errors.js';
import { createRollback } from './create-rollback.js';
import { UsageError } from '../errors.js';
import { idProblem } from '../manifest/row.js';
import { agentKey } from '../store/keys.js';
import { openStore, type ApiFlags, type RedisFlags } from './context.js';
import { apiClient } from './api-context.js';
import type { Notes } from './notes.js';
import { actorName, recordAction } from './actor.js';
import { requireBatch } from './require-batch.js';
import { exitCodeOf, workBatch } from './run.js';

export interface RollbackFlags extends RedisFlags, ApiFlags {
  agents?: string;
  force?: boolean;
  run?: boolean;
}

/** `--agents FILE`: a CSV with `org_id,agent_id` columns; every bad line is reported (exit 2). */
export async function readAgentList(file: string): Promise<Set<string>> {
  let records: Array<Record<string, string>>;
  await requireRegularFile(file, 'agent list', 64 * 1024 * 1024);
  try {
    records = parse(await readFile(file, 'utf8'), { columns: true, bom: true, skip_empty_lines: true, trim: true }) as Array<Record<string, string>>;
  } catch (error) {
    throw new UsageError(`cannot read the agent list ${file}: ${(error as Error).message}`, 'give a CSV with a header row and org_id,agent_id columns');
  }
  const problems: string[] = [];
  const keys = new Set<string>();
  records.forEach((record, i) => {
    for (const field of ['org_id', 'agent_id'] as const) {
      const problem = idProblem(record[field]);
      if (problem) problems.push(`${file}:${i + 2}: ${field}: ${problem}`);
    }
    if (record.org_id && record.agent_id) keys.add(agentKey(record.org_id, record.agent_id));
  });
  if (problems.length > 0) throw new UsageError(`the agent list is invalid:\n${problems.slice(0, 100).join('\n')}`);
  if (keys.size === 0) throw new UsageError(`the agent list ${file} names no agent`);
  return keys;
}

/** What `rollback` reports without --run (its `--json`, the library's result). */
export interface RollbackSummary {
  batchId: string;
  rollbackOf: string;
  enqueued: number;
  status: BatchStatus;
}

/** A rollback enqueued for the workers, or (--run) worked here until it ended. */
export type RollbackOutcome = { worked: false; summary: RollbackSummary; exitCode: 0 } | { worked: true; view: BatchView; interrupted: boolean; exitCode: ExitCode };

/** `rollback BATCH`: a batch restoring every agent the batch changed (SPEC §8), attached to if one is unfinished. */
export async function rollbackBatch(batchId: string, flags: RollbackFlags, notes: Notes, until: Promise<unknown>): Promise<RollbackOutcome> {
  const agents = flags.agents ? await readAgentList(flags.agents) : undefined;
  // --journal names the journal to restore from; the rollback's own --run journals to its default.
  const { journal: source, ...rest } = flags;
  const ctx = await openStore(rest);
  try {
    const client = flags.run ? apiClient(ctx.config) : undefined; // checked before anything is created
    if (typeof source === 'string') await (await import('./journal-recovery.js')).recoverForRollback(ctx.store, batchId, source, notes);
    if (flags.force) await requireBatch(ctx.store, batchId);
    if (flags.force) await notes.confirm?.(`rollback ${batchId} --force: agents someone edited since the batch changed them are overwritten with their before snapshots too?`);
    const { meta, enqueued, cancelledOrigin, attached } = await createRollback({
      store: ctx.store,
      originId: batchId,
      ...(agents ? { agents } : {}),
      force: Boolean(flags.force),
      submittedBy: actorName(),
      ...(flags.rate ? { rate: flags.rate } : {}),
    });
    if (!attached) await recordAction(ctx.store, 'rollback', { batch: batchId, reason: flags.reason, detail: `batch ${meta.id}, ${enqueued} agents${flags.force ? ', --force' : ''}` });
    if (cancelledOrigin) notes.note(`rollback: batch ${batchId} was still going — cancelled what had not started`);
    if (attached) notes.note(`rollback: batch ${batchId} is already being rolled back by batch ${meta.id} (${meta.status}) — carrying on with it, no second rollback`);
    else notes.note(`rollback: batch ${meta.id} restores ${enqueued} agent${enqueued === 1 ? '' : 's'} changed by ${batchId}${flags.force ? ' (--force: conflicts overridden)' : ''}`);
    if (!client) {
      return { worked: false, summary: { batchId: meta.id, rollbackOf: batchId, enqueued, status: meta.status }, exitCode: 0 };
    }
    try {
      const { view, interrupted } = await workBatch(ctx, client, meta, notes, until);
      return { worked: true, view, interrupted, exitCode: exitCodeOf(view, interrupted) };
    } finally {
      client.close();
    }
  } finally {
    ctx.close();
  }
}
