/**
 * `nova-fleet run MANIFEST [submit flags]`: submit plus an in-process worker, with a live progress
 * bar, until the batch ends. Exit 0 if no agent failed; 1 otherwise (or if halted or interrupted);
 * 3 if the batch was halted for bad credentials.
 */
import type { NovaClient } from '../api/client.js';
import { viewBatch, type BatchView } from '../engine/batch-view.js';
import { WorkerPool } from '../engine/worker-pool.js';
import { EXIT_CODES, type ExitCode } from '../errors.js';
import { FINAL_BATCH_STATUSES, type BatchMeta } from '../store/batch-store.js';
import { describeView } from '../engine/batch-view.js';
import { stepBatch } from '../engine/controller.js';
import { notify } from '../engine/hooks.js';
import type { Metrics } from '../metrics.js';
import { apiClient, openStore, startMetrics, untilSignal, type StoreContext } from './context.js';
import type { Output } from './output.js';
import { createProgress } from './progress.js';
import { submitWith, type SubmitFlags } from './submit.js';

/** Submit and work the batch in this process until it ends (or `until` resolves). */
export async function runBatch(ctx: StoreContext, client: NovaClient, file: string, flags: SubmitFlags, out: Output, until: Promise<unknown>, metrics?: Metrics): Promise<{ view: BatchView; interrupted: boolean }> {
  const submitted = await submitWith(ctx, file, flags, out);
  return workBatch(ctx, client, submitted.meta, out, until, metrics);
}

/** Work an existing batch in this process, with the progress display, until it ends or `until`. */
export async function workBatch(ctx: StoreContext, client: NovaClient, meta: BatchMeta, out: Output, until: Promise<unknown>, metrics?: Metrics): Promise<{ view: BatchView; interrupted: boolean }> {
  const batchId = meta.id;
  const pool = new WorkerPool({
    redisUrl: ctx.target.url,
    prefix: ctx.config.prefix,
    client,
    concurrency: ctx.config.concurrency,
    batchId,
    pollMs: 250,
    // This process submitted the batch and its command: it may run its verification.
    runVerify: true,
    ...(metrics ? { metrics } : {}),
    onError: (error) => out.note(`worker: ${error.message}`),
  });
  await pool.start();
  const progress = createProgress();
  let interrupted = false;
  void until.then(() => (interrupted = true));
  // The rate shown is over the last few samples, not since creation.
  const samples: Array<{ done: number; at: number }> = [];
  let view = await viewBatch(ctx.store, meta);
  try {
    while (!interrupted && !FINAL_BATCH_STATUSES.has(view.meta.status) && view.meta.status !== 'halted') {
      await new Promise((resolve) => setTimeout(resolve, 250));
      view = await viewBatch(ctx.store, (await ctx.store.getBatch(batchId))!, samples[0]);
      samples.push({ done: view.done, at: Date.now() });
      if (samples.length > 20) samples.shift();
      progress.update(view);
    }
  } finally {
    progress.stop();
    await pool.close();
  }
  const final = (await ctx.store.getBatch(batchId))!;
  // The pool stops with the batch; the last events (halt, completion) are sent from here.
  if (final.status === 'halted') await stepBatch(ctx.store, batchId, { onError: (error) => out.note(error.message) });
  if (final.status === 'completed' || final.status === 'completed_with_failures') await notify(ctx.store, final, 'completed', { event: 'completed' }, (error) => out.note(error.message));
  return { view: await viewBatch(ctx.store, final), interrupted };
}

export function exitCodeOf(view: BatchView, interrupted: boolean): ExitCode {
  if (view.meta.status === 'halted' && (view.meta.haltReason ?? '').startsWith('bad_credentials')) return EXIT_CODES.infra;
  if (interrupted || view.meta.status === 'halted' || view.counts.failed > 0 || view.counts.conflict > 0) return EXIT_CODES.failed;
  return EXIT_CODES.ok;
}

export async function runCommand(file: string, flags: SubmitFlags, out: Output, until: Promise<unknown> = untilSignal()): Promise<number> {
  const ctx = await openStore(flags);
  try {
    apiClient(ctx.config).close(); // before anything else: no batch without a key to run it
    const served = await startMetrics(flags.metricsPort, (line) => out.note(line));
    const client = apiClient(ctx.config, served?.metrics.observeResponse);
    try {
      const { view, interrupted } = await runBatch(ctx, client, file, flags, out, until, served?.metrics);
      if (interrupted) out.note(`run: interrupted; batch ${view.meta.id} stays ${view.meta.status} — any \`nova-fleet worker\` carries on with it`);
      out.result(describeView(view), view);
      if (!interrupted && view.meta.status === 'halted' && view.meta.autoRollback) {
        // The controller creates the automatic rollback (once); work it here too.
        await stepBatch(ctx.store, view.meta.id);
        const rollbackId = (await ctx.store.getBatch(view.meta.id))?.autoRollbackId;
        const rollback = rollbackId && rollbackId !== 'creating' ? await ctx.store.getBatch(rollbackId) : undefined;
        if (rollback) {
          out.note(`run: error budget exceeded — rolling back what was applied (batch ${rollback.id})`);
          const undo = await workBatch(ctx, client, rollback, out, until);
          out.note(describeView(undo.view));
        }
      }
      return exitCodeOf(view, interrupted);
    } finally {
      client.close();
      await served?.close();
    }
  } finally {
    ctx.close();
  }
}
