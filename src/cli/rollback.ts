/**
 * `nova-fleet rollback BATCH [--agents FILE] [--force] [--run]`: create a rollback batch that restores
 * every agent the batch changed. Without --run it is only enqueued (workers apply it); with --run it is
 * applied here with progress. Exit 1 if any agent conflicted or failed.
 */
import { readFile } from 'node:fs/promises';
import { requireRegularFile } from '../user-files.js';
import { parse } from 'csv-parse/sync';
import { describeView } from '../views/batch-view.js';
import { createRollback } from '../ops/create-rollback.js';
import { UsageError } from '../errors.js';
import { idProblem } from '../manifest/row.js';
import { agentKey } from '../store/keys.js';
import { openStore, untilSignal, type ApiFlags, type RedisFlags } from './context.js';
import { apiClient } from './api-context.js';
import type { Output } from './output.js';
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

export async function rollbackCommand(batchId: string, flags: RollbackFlags, out: Output, until: Promise<unknown> = untilSignal()): Promise<number> {
  const agents = flags.agents ? await readAgentList(flags.agents) : undefined;
  // --journal names the journal to restore from; the rollback's own --run journals to its default.
  const { journal: source, ...rest } = flags;
  const ctx = await openStore(rest);
  try {
    const client = flags.run ? apiClient(ctx.config) : undefined; // checked before anything is created
    if (typeof source === 'string') await (await import('./journal-recovery.js')).recoverForRollback(ctx.store, batchId, source, out);
    const { meta, enqueued, cancelledOrigin, attached } = await createRollback({
      store: ctx.store,
      originId: batchId,
      ...(agents ? { agents } : {}),
      force: Boolean(flags.force),
      ...(flags.rate ? { rate: flags.rate } : {}),
    });
    if (cancelledOrigin) out.note(`rollback: batch ${batchId} was still going — cancelled what had not started`);
    if (attached) out.note(`rollback: batch ${batchId} is already being rolled back by batch ${meta.id} (${meta.status}) — carrying on with it, no second rollback`);
    else out.note(`rollback: batch ${meta.id} restores ${enqueued} agent${enqueued === 1 ? '' : 's'} changed by ${batchId}${flags.force ? ' (--force: conflicts overridden)' : ''}`);
    if (!client) {
      out.result(meta.id, { batchId: meta.id, rollbackOf: batchId, enqueued, status: meta.status });
      return 0;
    }
    try {
      const { view, interrupted } = await workBatch(ctx, client, meta, out, until);
      out.result(describeView(view), view);
      return exitCodeOf(view, interrupted);
    } finally {
      client.close();
    }
  } finally {
    ctx.close();
  }
}
