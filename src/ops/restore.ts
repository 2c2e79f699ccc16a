/**
 * Point-in-time restore (SPEC §16): each agent back to its state at a time — its before snapshot in the
 * earliest batch after that time that changed it — as a batch of its own, with rollback's conflict rule:
 * the fields go back only where they still hold what the tool last wrote (the latest such batch's after
 * snapshot); an agent edited since is a `conflict`, left alone, unless `--force`. Built as an applied
 * plan is: a row per agent with the old values and, as preconditions, the values last written; submitted
 * with the planned batches' rule (an unmet precondition is drift, a conflict). Undoing three batches is
 * one restore to before the first.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Agent, Json } from '../api/types.js';
import { UsageError } from '../errors.js';
import { FINAL_BATCH_STATUSES } from '../batch/lifecycle.js';
import { JsonManifestWriter } from '../manifest/json-writer.js';
import { isWritableField } from '../patch/fields.js';
import { directiveInPlan } from '../plan/plan-rows.js';
import type { AgentMarks } from '../store/history-index.js';
import type { BatchStore } from '../store/batch-store.js';
import { splitAgentKey } from '../store/keys.js';
import { checkBatchId, generateBatchId } from '../batch/batch-id.js';
import { manifestOptions, requireValidManifest } from './manifest-gate.js';
import type { Notes } from './notes.js';
import type { SubmitResult, OnCreated } from './create-batch.js';
import { fileDigest } from '../user-files.js';
import { recordAction } from './actor.js';
import { openStore, type StoreContext } from './context.js';
import { readAgentList } from './rollback.js';
import { runWith, type RunOutcome } from './run.js';
import { submitSource, submitSummary, type SubmitFlags, type SubmitSummary } from './submit.js';
import type { BatchView } from '../views/batch-view.js';

export interface RestoreFlags extends SubmitFlags {
  /** An ISO time, or a batch id (the state before that batch). */
  to: string;
  /** Only these agents (a CSV of org_id,agent_id), or those of these orgs. */
  agents?: string;
  org?: string[];
  force?: boolean;
  /** Work it here until it ends. */
  run?: boolean;
}

/** One agent's way back: the fields, their values at the time, and what the tool last wrote there. */
export interface RestoreRow {
  org_id: string;
  agent_id: string;
  patch: Record<string, Json>;
  expect?: Record<string, Json>;
}

/**
 * The way back for one agent from its batches after `time` (oldest first): undefined if none changed it
 * since; a string if it cannot be done (a field the agent did not have then cannot be removed by a PATCH).
 */
export function restoreRow(key: string, later: ReadonlyArray<{ before?: Agent; after?: Agent; changed: readonly string[] }>, force: boolean): RestoreRow | string | undefined {
  const changing = later.filter((b) => b.changed.length > 0 && b.before && b.after);
  if (changing.length === 0) return undefined;
  const then = changing[0]!.before!;
  const fields = [...new Set(changing.flatMap((b) => b.changed))].filter(isWritableField).sort();
  const absent = fields.filter((field) => !Object.hasOwn(then, field));
  if (absent.length > 0) return `${absent.join(', ')} did not exist then, and a PATCH cannot remove a field`;
  const { orgId, agentId } = splitAgentKey(key);
  const patch = Object.fromEntries(fields.map((field) => [field, then[field] as Json]));
  // The values the tool wrote last, field by field: each from the latest batch that changed that field.
  const written = Object.fromEntries(fields.map((field) => [field, [...changing].reverse().find((b) => b.changed.includes(field))!.after![field] as Json]));
  return { org_id: orgId, agent_id: agentId, patch, ...(force ? {} : { expect: written }) };
}

/** When `--to` is: an ISO time, or the creation of the batch it names (the state before it). */
async function timeOf(store: BatchStore, to: string): Promise<number> {
  if (/^\d{4}-\d{2}-\d{2}T/.test(to)) {
    const at = Date.parse(to);
    if (!Number.isNaN(at)) return at;
  }
  const meta = await store.getBatch(to);
  if (meta) return meta.createdAt;
  throw new UsageError(`--to "${to.slice(0, 100)}" is neither a time (ISO 8601 with its offset) nor a batch of this prefix`, 'e.g. --to 2026-12-01T09:00:00Z, or --to BATCH_ID for the state before that batch');
}

/** Writes the restore's rows; returns the manifest's path, how many agents go back, and the notes of those that cannot. */
async function writeRows(store: BatchStore, time: number, agents: AsyncIterable<AgentMarks[]>, force: boolean, file: string): Promise<{ rows: number; skipped: string[]; looked: string[] }> {
  const writer = new JsonManifestWriter(file);
  const skipped: string[] = [];
  const looked: string[] = [];
  // Whether each batch named in the histories is whole (its metadata written last by create and import):
  // read once per batch, not once per agent.
  const whole = new Map<string, Promise<boolean>>();
  const isWhole = (batchId: string) => {
    let known = whole.get(batchId);
    if (!known) whole.set(batchId, (known = store.getBatch(batchId).then((meta) => meta !== undefined)));
    return known;
  };
  let complete = false;
  try {
    for await (const page of agents) {
      for (const { key, marks } of page) {
        looked.push(key);
        const later = [];
        for (const { batchId, at } of marks) {
          if (at < time) continue;
          const record = await store.agentRecord(batchId, key);
          if (record && (record.status === 'applied' || record.status === 'restored') && (await isWhole(batchId))) later.push({ ...(record.before ? { before: record.before } : {}), ...(record.after ? { after: record.after } : {}), changed: record.changed ?? [] });
        }
        const row = restoreRow(key, later, force);
        if (typeof row === 'string') skipped.push(`${key}: ${row}`);
        else if (row && directiveInPlan({ line: 0, org_id: row.org_id, agent_id: row.agent_id, status: 'change', changes: Object.entries(row.patch).map(([p, after]) => ({ path: p, before: undefined, after })) }) !== undefined) skipped.push(`${key}: a value of then would be read as a directive ($…)`);
        else if (row) await writer.add(row);
      }
    }
    complete = true;
    return { rows: writer.rows, skipped, looked };
  } finally {
    await writer.close(complete);
  }
}

export async function restoreWith(ctx: StoreContext, flags: RestoreFlags, agents: AsyncIterable<AgentMarks[]>, notes: Notes, onCreated?: OnCreated): Promise<SubmitResult | undefined> {
  const time = await timeOf(ctx.store, flags.to);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nova-fleet-restore-'));
  try {
    const file = path.join(dir, `restore-to-${new Date(time).toISOString().replace(/[:.]/g, '-')}.json`);
    const { rows, skipped, looked } = await writeRows(ctx.store, time, agents, Boolean(flags.force), file);
    // A batch still at work on these agents would change them after the restore (or, pending, is not in
    // the history yet): the restore waits for it to end — it is not raced.
    const refuseIfBusy = async () => {
      const busy = await unfinishedOver(ctx.store, looked);
      if (busy.length > 0) {
        throw new UsageError(
          `restore: ${busy.map((b) => `batch ${b.id} (${b.status}) holds ${b.agents} of these agents`).join('; ')} — its changes would land after the restore's; nothing was created`,
          `wait for it to end, or cancel it (\`nova-fleet cancel ${busy[0]!.id}\`), then restore`,
        );
      }
    };
    await refuseIfBusy();
    for (const line of skipped.slice(0, 20)) notes.note(`restore: left alone: ${line}`);
    if (rows === 0) {
      notes.note(`restore: no agent was changed by nova-fleet since ${new Date(time).toISOString()}: nothing to restore`);
      return undefined;
    }
    if (notes.confirm) {
      await notes.confirm(`restore: ${rows} agent${rows === 1 ? '' : 's'} back to ${new Date(time).toISOString()}${flags.force ? ', even where edited since (--force)' : ''}, as a new batch?`);
      // Looked at again after the answer: a batch on these agents may have started while it was read.
      await refuseIfBusy();
    }
    notes.note(`restore: ${rows} agent${rows === 1 ? '' : 's'} back to ${new Date(time).toISOString()}${flags.force ? ' (--force: even where edited since)' : '; any edited since the tool last wrote it is left alone as a conflict'}`);
    const options = { ...manifestOptions(flags), format: 'json' as const };
    const report = await requireValidManifest(file, flags, notes, options);
    const source = { rows: file, options, report, dispose: async () => {} };
    const batchId = flags.batch ? checkBatchId(flags.batch) : generateBatchId(`restore-${new Date(time).toISOString().slice(0, 10)}`);
    const result = await submitSource(ctx, `restore --to ${flags.to}`, source, await fileDigest(file), { batchId }, { ...flags, preflight: flags.preflight ?? false }, notes, onCreated, { planned: true, freshnessMs: 0 }, null);
    if (result.created) await recordAction(ctx.store, 'restore', { batch: result.batchId, reason: flags.reason, detail: `${rows} agents to ${new Date(time).toISOString()}${flags.force ? ', --force' : ''}` });
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Batches not ended (running, paused, waiting…) that hold any of `keys`, with how many. */
async function unfinishedOver(store: BatchStore, keys: readonly string[]): Promise<Array<{ id: string; status: string; agents: number }>> {
  const out = [];
  for (const id of await store.listActiveBatchIds()) {
    const meta = await store.getBatch(id);
    if (!meta || FINAL_BATCH_STATUSES.has(meta.status)) continue;
    let agents = 0;
    for (let i = 0; i < keys.length; i += 1000) agents += (await store.statusesOf(id, keys.slice(i, i + 1000))).filter((s) => s !== undefined).length;
    if (agents > 0) out.push({ id, status: meta.status, agents });
  }
  return out;
}

/** The agents a restore looks at, with their histories: a list, the orgs named, or every agent with a history. */
async function* agentsOf(store: BatchStore, flags: RestoreFlags): AsyncGenerator<AgentMarks[]> {
  if (flags.agents) {
    for (const key of await readAgentList(flags.agents)) yield [{ key, marks: await store.history.of(key) }];
    return;
  }
  for (const org of flags.org?.length ? flags.org : [undefined]) yield* store.history.entries(org);
}

/** `restore --to …`: the restore batch created and enqueued (workers do the work); undefined if nothing to do. */
export async function restoreBatch(flags: RestoreFlags, notes: Notes): Promise<SubmitSummary | undefined> {
  const ctx = await openStore(flags);
  try {
    const result = await restoreWith(ctx, flags, agentsOf(ctx.store, flags), notes);
    return result ? submitSummary(result) : undefined;
  } finally {
    ctx.close();
  }
}

/** `restore --to … --run`: created and worked here until it ends. */
export function runRestore(flags: RestoreFlags, notes: Notes, until: Promise<unknown>, onEnded?: (view: BatchView) => void): Promise<RunOutcome> {
  return runWith((ctx, onCreated) => restoreWith(ctx, flags, agentsOf(ctx.store, flags), notes, onCreated), flags, notes, until, onEnded);
}
