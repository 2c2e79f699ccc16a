/** `nova-fleet pause|resume|cancel|retry BATCH`: operator controls, obeyed by every worker. */
import { approveBatch, cancelBatch, pauseBatch, resumeBatch, retryBatch, type ResumeOptions } from '../engine/control.js';
import type { BatchStore } from '../store/batch-store.js';
import { openStore, type RedisFlags } from './context.js';
import type { Output } from './output.js';

async function withStore<T>(flags: RedisFlags, fn: (store: BatchStore) => Promise<T>): Promise<T> {
  const ctx = await openStore(flags);
  try {
    return await fn(ctx.store);
  } finally {
    ctx.close();
  }
}

export const pauseCommand = (batchId: string, flags: RedisFlags, out: Output) =>
  withStore(flags, async (store) => {
    const meta = await pauseBatch(store, batchId);
    out.result(`batch ${batchId} is ${meta.status}: no new agent starts; requests in flight finish`, { batchId, status: meta.status });
  });

export const resumeCommand = (batchId: string, flags: RedisFlags & ResumeOptions, out: Output) =>
  withStore(flags, async (store) => {
    const meta = await resumeBatch(store, batchId, flags);
    out.result(`batch ${batchId} is ${meta.status}`, { batchId, status: meta.status });
  });

export const approveCommand = (batchId: string, flags: RedisFlags, out: Output) =>
  withStore(flags, async (store) => {
    const meta = await approveBatch(store, batchId);
    out.result(`batch ${batchId}: wave ${(meta.wave ?? 0) + 2} approved; it starts at the next step of a worker`, { batchId, status: meta.status, approvedWave: meta.approvedWave });
  });

export const cancelCommand = (batchId: string, flags: RedisFlags, out: Output) =>
  withStore(flags, async (store) => {
    const { meta, skipped } = await cancelBatch(store, batchId);
    out.result(`batch ${batchId} is ${meta.status}: ${skipped} agent${skipped === 1 ? '' : 's'} skipped`, { batchId, status: meta.status, skipped });
  });

export const retryCommand = (batchId: string, flags: RedisFlags, out: Output) =>
  withStore(flags, async (store) => {
    const { meta, retried } = await retryBatch(store, batchId);
    out.result(`batch ${batchId}: ${retried} failed agent${retried === 1 ? '' : 's'} enqueued again (${meta.status})`, { batchId, status: meta.status, retried });
  });
