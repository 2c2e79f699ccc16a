/**
 * The batch controller: one step, run often by every worker of a batch, executed by whichever holds the
 * batch's short lock. It moves a staged rollout along (SPEC §9):
 *   - a wave is done when its cumulative target of agents has been attempted and finished;
 *   - then the bake time passes, then (with --approve) the batch waits for `approve`;
 *   - then the next wave's held jobs are released into the queue.
 * And it acts on a halt: the queue is paused (no job is even picked up), and with --auto-rollback the
 * rollback of what was applied is created, once.
 * "Now" is the Redis server's clock, so workers with skewed clocks agree.
 */
import { randomBytes } from 'node:crypto';
import { FINAL_BATCH_STATUSES, type BatchMeta, type BatchStore } from '../store/batch-store.js';
import { nextChange, scheduleState, windowSpec } from './window.js';
import { notify, startVerify, verifyState } from './hooks.js';
import { doneOf } from './batch-view.js';
import { batchQueue, jobOptions, type AgentJobData } from './jobs.js';
import { createRollback } from './rollback.js';
import { skipRemaining } from './control.js';

/** The controller's lock: long enough for one step, short enough that a dead worker's is soon gone. */
const LOCK_MS = 5000;

export type ControllerEvent =
  | { kind: 'window_opened' }
  | { kind: 'window_closed'; nextOpening?: number }
  | { kind: 'deadline_passed'; skipped: number }
  | { kind: 'wave_done'; wave: number }
  | { kind: 'verifying'; wave: number }
  | { kind: 'waiting_approval'; wave: number }
  | { kind: 'wave_started'; wave: number }
  | { kind: 'halted'; reason: string; rollbackId?: string };

export async function redisNow(store: BatchStore): Promise<number> {
  const [seconds, micros] = await store.redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

export interface StepOptions {
  /** This process may run --verify-cmd commands (worker --run-verify, or run for its own batch). */
  runVerify?: boolean;
  onError?: (error: Error) => void;
}

/** One step for one batch. Returns what happened (for logs and notifications). */
export async function stepBatch(store: BatchStore, batchId: string, options: StepOptions = {}): Promise<ControllerEvent[]> {
  const token = randomBytes(8).toString('hex');
  const lock = store.keys.controller(batchId);
  if ((await store.redis.set(lock, token, 'PX', LOCK_MS, 'NX')) !== 'OK') return [];
  try {
    const meta = await store.getBatch(batchId);
    if (!meta) return [];
    const onError = options.onError ?? (() => {});
    let events: ControllerEvent[] = [];
    if (meta.status === 'halted') events = await onHalted(store, meta);
    else {
      if (meta.startAt !== undefined || meta.window || meta.deadline !== undefined) events = await followSchedule(store, meta, await redisNow(store));
      if (events.length === 0 && meta.waves && (meta.status === 'running' || meta.status === 'waiting_approval')) events = await advanceWaves(store, meta, options);
    }
    for (const event of events) {
      if (event.kind === 'wave_done') await notify(store, meta, `wave_done:${event.wave}`, { event: 'wave_done', wave: event.wave + 1 }, onError);
      if (event.kind === 'halted') await notify(store, meta, 'halted', { event: 'halted', reason: event.reason }, onError);
    }
    return events;
  } finally {
    // Release only our own lock (it may have expired and been taken by another worker).
    if ((await store.redis.get(lock)) === token) await store.redis.del(lock);
  }
}

async function withQueue<T>(store: BatchStore, batchId: string, fn: (queue: ReturnType<typeof batchQueue>) => Promise<T>): Promise<T> {
  const queue = batchQueue(store.redis, store.keys, batchId);
  try {
    return await fn(queue);
  } finally {
    await queue.close();
  }
}

/**
 * --start-at, --window, --deadline: open and close the batch on the Redis clock. While it waits, its
 * queue is paused (jobs are not even picked up); workers also check the window before each request.
 */
async function followSchedule(store: BatchStore, meta: BatchMeta, now: number): Promise<ControllerEvent[]> {
  const state = scheduleState(meta, now);
  if (state === 'past_deadline') {
    if (FINAL_BATCH_STATUSES.has(meta.status) || (await store.redis.hsetnx(store.keys.meta(meta.id), 'deadline_passed', '1')) !== 1) return [];
    return [{ kind: 'deadline_passed', skipped: await skipRemaining(store, meta, 'deadline passed') }];
  }
  const waiting = meta.status === 'scheduled' || meta.status === 'waiting_window';
  if (state === 'open' && waiting) {
    if (await store.transition(meta.id, 'running', [meta.status])) {
      await withQueue(store, meta.id, (queue) => queue.resume());
      return [{ kind: 'window_opened' }];
    }
  } else if (state === 'closed' && (meta.status === 'running' || meta.status === 'scheduled')) {
    if (await store.transition(meta.id, 'waiting_window', [meta.status])) {
      const next = meta.window ? nextChange(windowSpec(meta.window), now) : undefined;
      if (next !== undefined) await store.setMeta(meta.id, { window_next: next });
      await withQueue(store, meta.id, (queue) => queue.pause());
      return [{ kind: 'window_closed', ...(next !== undefined ? { nextOpening: next } : {}) }];
    }
  }
  return [];
}

async function onHalted(store: BatchStore, meta: BatchMeta): Promise<ControllerEvent[]> {
  // The first step after a halt pauses the queue and reports it; later steps find nothing to do.
  const newlyPaused = await withQueue(store, meta.id, async (queue) => {
    if (await queue.isPaused()) return false;
    await queue.pause();
    return true;
  });
  const reason = meta.haltReason ?? 'halted';
  const halted: ControllerEvent[] = newlyPaused ? [{ kind: 'halted', reason }] : [];
  // A gate (budget, verification) halted it: roll back if asked. Not for bad credentials — the key
  // that was refused could not roll anything back either.
  const byGate = reason.startsWith('error_budget') || reason.startsWith('verify_failed');
  if (!meta.autoRollback || meta.autoRollbackId || !byGate) return halted;
  // Once: the field is claimed before the rollback is created.
  if ((await store.redis.hsetnx(store.keys.meta(meta.id), 'auto_rollback_id', 'creating')) !== 1) return halted;
  const { meta: rollback } = await createRollback({ store, originId: meta.id });
  await store.setMeta(meta.id, { auto_rollback_id: rollback.id });
  return [{ kind: 'halted', reason, rollbackId: rollback.id }];
}

async function advanceWaves(store: BatchStore, meta: BatchMeta, options: StepOptions): Promise<ControllerEvent[]> {
  const waves = meta.waves!;
  const wave = meta.wave ?? 0;
  if (wave >= waves.length - 1) return [];
  const done = doneOf(await store.counts(meta.id));
  if (done < waves[wave]!) return [];
  const events: ControllerEvent[] = [];
  const now = await redisNow(store);
  let doneAt = meta.waveDoneAt;
  if (doneAt === undefined) {
    doneAt = now;
    await store.setMeta(meta.id, { wave_done_at: doneAt });
    events.push({ kind: 'wave_done', wave });
  }
  if (meta.bakeMs && now < doneAt + meta.bakeMs) return events;
  if (meta.verifyCmd) {
    const state = await verifyState(store, meta.id, wave);
    if (state === 'none') {
      if (options.runVerify && (await startVerify(store, meta, wave, options.onError ?? (() => {})))) events.push({ kind: 'verifying', wave });
      return events;
    }
    if (state === 'running') return events;
    if (state !== 'passed') {
      const reason = `verify_failed: after wave ${wave + 1}, ${state.failed}`;
      if (await store.transition(meta.id, 'halted', ['running', 'waiting_approval'], { halt_reason: reason })) {
        events.push({ kind: 'halted', reason });
      }
      return events;
    }
  }
  if (meta.approve && (meta.approvedWave ?? -1) < wave) {
    if (meta.status === 'running' && (await store.transition(meta.id, 'waiting_approval', ['running']))) events.push({ kind: 'waiting_approval', wave });
    return events;
  }
  await releaseWave(store, meta, wave + 1);
  await store.setMeta(meta.id, { wave: wave + 1, wave_done_at: '' });
  if (meta.status === 'waiting_approval') await store.transition(meta.id, 'running', ['waiting_approval']);
  events.push({ kind: 'wave_started', wave: wave + 1 });
  return events;
}

/** Moves a held wave's jobs into the queue. Safe to repeat: job ids dedupe, the list goes last. */
async function releaseWave(store: BatchStore, meta: BatchMeta, wave: number): Promise<void> {
  const key = store.keys.held(meta.id, wave);
  const queue = batchQueue(store.redis, store.keys, meta.id);
  try {
    const length = await store.redis.llen(key);
    for (let start = 0; start < length; start += 1000) {
      const items = (await store.redis.lrange(key, start, start + 999)).map((json) => JSON.parse(json) as AgentJobData);
      await queue.addBulk(items.map((data) => ({ name: 'agent', data, opts: jobOptions(data.k, meta.options) })));
    }
  } finally {
    await queue.close();
  }
  await store.redis.del(key);
}
