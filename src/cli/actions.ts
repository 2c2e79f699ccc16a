/**
 * `nova-fleet pause|resume|cancel|retry|approve BATCH`: operator controls, obeyed by every worker.
 * `resume`, `retry` and `approve` take `--run` to work the batch here afterwards, with progress, and
 * exit as `run` does (SPEC §13).
 */
import { approveBatch, cancelBatch, pauseBatch, resumeBatch, retryBatch, type ResumeOptions } from '../ops/actions.js';
import { describeView } from './view-text.js';
import { flushNotifications, notify } from '../controller/hooks.js';
import type { BatchMeta } from '../batch/records.js';
import { openStore, type ApiFlags, type RedisFlags, type StoreContext } from '../ops/context.js';
import { requireFutureDeadline } from './parsers.js';
import { apiClient } from '../ops/api-context.js';
import type { Output } from './output.js';
import { untilSignal } from './signals.js';
import { actorName, recordAction } from '../ops/actor.js';
import { exitCodeOf, workBatch } from '../ops/run.js';

export interface WorkFlags extends RedisFlags, ApiFlags {
  /** Work the batch in this process afterwards, until it ends (or Ctrl-C). */
  run?: boolean;
}

async function withStore<T>(flags: RedisFlags & ApiFlags, fn: (ctx: StoreContext) => Promise<T>): Promise<T> {
  const ctx = await openStore(flags);
  try {
    return await fn(ctx);
  } finally {
    ctx.close();
  }
}

/** With --run: work the batch here until it ends; returns run's exit code. */
async function workHere(ctx: StoreContext, meta: BatchMeta, flags: WorkFlags, out: Output): Promise<number | undefined> {
  if (!flags.run) return undefined;
  const client = apiClient(ctx.config);
  try {
    const { view, interrupted } = await workBatch(ctx, client, meta, out, untilSignal());
    if (interrupted) out.note(`interrupted; batch ${meta.id} stays ${view.meta.status} — any \`nova-fleet worker\` carries on with it`);
    out.note(describeView(view));
    return exitCodeOf(view, interrupted);
  } finally {
    client.close();
  }
}

export const pauseCommand = (batchId: string, flags: RedisFlags, out: Output) =>
  withStore(flags, async ({ store }) => {
    const meta = await pauseBatch(store, batchId);
    await recordAction(store, 'pause', { batch: batchId, reason: flags.reason });
    out.result(`batch ${batchId} is ${meta.status}: no request starts from now on; requests already sent finish`, { batchId, status: meta.status });
  });

export const resumeCommand = (batchId: string, flags: WorkFlags & ResumeOptions, out: Output) =>
  withStore(flags, async (ctx) => {
    if (flags.run) apiClient(ctx.config).close(); // no key, no change: before the batch is resumed
    const meta = await resumeBatch(ctx.store, batchId, flags);
    await recordAction(ctx.store, 'resume', { batch: batchId, reason: flags.reason, ...(flags.overrideBudget || flags.overrideGate ? { detail: [flags.overrideBudget ? '--override-budget' : '', flags.overrideGate ? '--override-gate' : ''].filter(Boolean).join(' ') } : {}) });
    out.result(`batch ${batchId} is ${meta.status}`, { batchId, status: meta.status });
    return workHere(ctx, meta, flags, out);
  });

export const approveCommand = (batchId: string, flags: WorkFlags, out: Output) =>
  withStore(flags, async (ctx) => {
    if (flags.run) apiClient(ctx.config).close();
    const meta = await approveBatch(ctx.store, batchId, actorName());
    await recordAction(ctx.store, 'approve', { batch: batchId, reason: flags.reason, detail: `wave ${(meta.approvedWave ?? 0) + 1}` });
    out.result(`batch ${batchId}: wave ${(meta.wave ?? 0) + 2} approved; it starts at the next step of a worker`, { batchId, status: meta.status, approvedWave: meta.approvedWave });
    return workHere(ctx, meta, flags, out);
  });

export const cancelCommand = (batchId: string, flags: RedisFlags, out: Output) =>
  withStore(flags, async ({ store }) => {
    const { meta, skipped } = await cancelBatch(store, batchId);
    await recordAction(store, 'cancel', { batch: batchId, reason: flags.reason, detail: `${skipped} skipped` });
    await notify(store, meta, `cancelled:${meta.finishedAt ?? Date.now()}`, { event: 'cancelled', reason: `cancelled by an operator: ${skipped} agent${skipped === 1 ? '' : 's'} skipped` }, (error) => out.note(error.message));
    await flushNotifications();
    out.result(`batch ${batchId} is ${meta.status}: ${skipped} agent${skipped === 1 ? '' : 's'} skipped; no request starts from now on (\`nova-fleet retry ${batchId} --skipped\` finishes them)`, { batchId, status: meta.status, skipped });
  });

export const retryCommand = (batchId: string, flags: WorkFlags & { skipped?: boolean; force?: boolean; window?: string; deadline?: number }, out: Output) =>
  withStore(flags, async (ctx) => {
    if (flags.run) apiClient(ctx.config).close();
    requireFutureDeadline(flags.deadline);
    const { meta, retried, withoutJob } = await retryBatch(ctx.store, batchId, {
      skipped: Boolean(flags.skipped),
      force: Boolean(flags.force),
      ...(flags.window !== undefined ? { window: flags.window } : {}),
      ...(flags.deadline !== undefined ? { deadline: flags.deadline } : {}),
    });
    await recordAction(ctx.store, 'retry', { batch: batchId, reason: flags.reason, detail: `${retried} agents${flags.force ? ', --force' : ''}` });
    if (flags.window !== undefined || flags.deadline !== undefined) out.note(`retry: requests ${flags.window ? `inside "${flags.window}" ` : ''}${flags.deadline !== undefined ? `until ${new Date(flags.deadline).toISOString()}` : ''}`.trim());
    const what = ['failed', ...(flags.skipped ? ['skipped'] : []), ...(flags.force ? ['conflicting'] : [])].join(' or ');
    out.result(`batch ${batchId}: ${retried} ${what} agent${retried === 1 ? '' : 's'} enqueued again (${meta.status})`, { batchId, status: meta.status, retried, withoutJob });
    if (withoutJob > 0) out.note(`retry: ${withoutJob} agent${withoutJob === 1 ? ' has' : 's have'} no stored job (recorded by an older nova-fleet): submit them again with a manifest of their own`);
    return workHere(ctx, meta, flags, out);
  });
