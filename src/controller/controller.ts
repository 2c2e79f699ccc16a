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
import type { BatchStore } from '../store/batch-store.js';
import { FINAL_BATCH_STATUSES } from '../batch/lifecycle.js';
import type { BatchMeta } from '../batch/records.js';
import { nextChange, scheduleState, windowSpec } from '../batch/window.js';
import { notify, startVerify, verifyState } from './hooks.js';
import { doneOf } from '../views/batch-view.js';
import { jobOptions, pauseQueueWhile } from '../store/job-queue.js';
import { createRollback } from '../ops/create-rollback.js';
import { skipRemaining } from '../ops/actions.js';
import { FROM } from '../batch/lifecycle.js';
import { GATE_HALTS, halt, haltKind } from '../batch/halt.js';
import { haltIfOnlyBlockedLeft } from '../worker/org-blocks.js';
import { recordFailedJobs } from './lost-jobs.js';
import { startAnalysis, storedAnalysis, type CallsReader } from './calls-gate.js';


/** The controller's lock: long enough for one step, short enough that a dead worker's is soon gone. */
const LOCK_MS = 5000;

export type ControllerEvent =
  | { kind: 'window_opened' }
  | { kind: 'window_closed'; nextOpening?: number }
  | { kind: 'deadline_passed'; skipped: number }
  | { kind: 'wave_done'; wave: number }
  | { kind: 'verifying'; wave: number }
  | { kind: 'analysing'; wave: number }
  | { kind: 'waiting_approval'; wave: number }
  | { kind: 'wave_started'; wave: number }
  | { kind: 'halted'; reason: string; rollbackId?: string };

/**
 * The deadline cut the batch: it ends `cancelled`, saying so, with `deadline_passed` = 1 while its
 * remaining agents are being skipped (the next controller step does that, or finishes it). Called by
 * the controller, and by a worker whose gate saw the deadline first — before it skips its agent, so
 * that the last skip cannot complete the batch as a clean `completed`.
 */
export async function cutByDeadline(store: BatchStore, batchId: string, deadline: number, now: number): Promise<void> {
  await store.claim(batchId, 'deadline_passed');
  await store.transition(batchId, 'cancelled', FROM.deadline, { haltReason: halt('deadline_passed', `${new Date(deadline).toISOString()}; agents not yet tried were skipped`), finishedAt: now });
}

export interface StepOptions {
  /** This process may run --verify-cmd commands (worker --run-verify, or run for its own batch). */
  runVerify?: boolean;
  /** This process can read the batch's calls (a worker serving it): a calls gate's judgement may start here. */
  calls?: CallsReader;
  onError?: (error: Error) => void;
}

/** One step for one batch. Returns what happened (for logs and notifications). */
export async function stepBatch(store: BatchStore, batchId: string, options: StepOptions = {}): Promise<ControllerEvent[]> {
  const token = randomBytes(8).toString('hex');
  if (!(await store.lockController(batchId, token, LOCK_MS))) return [];
  try {
    const meta = await store.getBatch(batchId);
    if (!meta) return [];
    const onError = options.onError ?? (() => {});
    await recordFailedJobs(store, batchId);
    let events: ControllerEvent[] = [];
    if (meta.status === 'halted') events = await onHalted(store, meta);
    else if (meta.blockedOrgs && (await haltIfOnlyBlockedLeft(store, batchId))) {
      // Orgs blocked for their keys and nothing else left: the halt (bad_credentials) is reported now.
      events = await onHalted(store, (await store.getBatch(batchId))!);
    } else {
      if (meta.startAt !== undefined || meta.window || meta.deadline !== undefined) events = await followSchedule(store, meta, await store.now());
      if (events.length === 0 && meta.waves && (meta.status === 'running' || meta.status === 'waiting_approval')) events = await advanceWaves(store, meta, options);
    }
    for (const event of events) {
      if (event.kind === 'wave_done') await notify(store, meta, `wave_done:${event.wave}`, { event: 'wave_done', wave: event.wave + 1 }, onError);
      if (event.kind === 'halted') await notify(store, meta, 'halted', { event: 'halted', reason: event.reason }, onError);
      // A window closing on its deadline skips what is left: said, as a halt is (it was silent).
      if (event.kind === 'deadline_passed') await notify(store, meta, `cancelled:deadline:${meta.deadline ?? ''}`, { event: 'cancelled', reason: `deadline_passed: ${event.skipped} agent${event.skipped === 1 ? '' : 's'} not yet tried were skipped` }, onError);
    }
    return events;
  } finally {
    // Only our own lock (it may have expired and been taken by another worker), in one step.
    await store.unlockController(batchId, token);
  }
}

/**
 * --start-at, --window, --deadline: open and close the batch on the Redis clock. While it waits, its
 * queue is paused (jobs are not even picked up); workers also check the window before each request.
 */
async function followSchedule(store: BatchStore, meta: BatchMeta, now: number): Promise<ControllerEvent[]> {
  const state = scheduleState(meta, now);
  // A skip the deadline started and a dead worker left unfinished is finished by the next step.
  const resumeSkip = meta.status === 'cancelled' && meta.deadlineSkipping === true;
  if (state === 'past_deadline' || resumeSkip) {
    if (!resumeSkip && (FINAL_BATCH_STATUSES.has(meta.status) || !(await store.claim(meta.id, 'deadline_passed')))) return [];
    // A batch cut by its deadline ends saying so — cancelled, with the reason — not a clean
    // `completed` over agents never tried; `retry --skipped` finishes it (and lifts the deadline),
    // once the skip is done ('deadline_passed' goes from 1 to done).
    await cutByDeadline(store, meta.id, meta.deadline ?? now, now);
    const skipped = await skipRemaining(store, meta, 'deadline passed');
    await store.setMeta(meta.id, { deadlinePassed: 'done' });
    return [{ kind: 'deadline_passed', skipped }];
  }
  const waiting = meta.status === 'scheduled' || meta.status === 'waiting_window';
  if (state === 'open' && waiting) {
    // The outage clock starts again with the window: no request was meant to succeed while it was shut.
    if (await store.transition(meta.id, 'running', [meta.status], { outageSince: null })) {
      await store.withQueue(meta.id, (queue) => queue.resume());
      return [{ kind: 'window_opened' }];
    }
  } else if (state === 'closed' && (meta.status === 'running' || meta.status === 'scheduled')) {
    if (await store.transition(meta.id, 'waiting_window', [meta.status])) {
      const next = meta.window ? nextChange(windowSpec(meta.window), now) : undefined;
      if (next !== undefined) await store.setMeta(meta.id, { windowNext: next });
      await pauseQueueWhile(store, meta.id, 'waiting_window');
      return [{ kind: 'window_closed', ...(next !== undefined ? { nextOpening: next } : {}) }];
    }
  }
  return [];
}

async function onHalted(store: BatchStore, meta: BatchMeta): Promise<ControllerEvent[]> {
  // The first step after a halt pauses the queue and reports it; later steps find nothing to do.
  const newlyPaused = await pauseQueueWhile(store, meta.id, 'halted');
  const reason = meta.haltReason ?? 'halted';
  const halted: ControllerEvent[] = newlyPaused ? [{ kind: 'halted', reason }] : [];
  // A gate (budget, verification) halted it: roll back if asked. Not for bad credentials — the key
  // that was refused could not roll anything back either.
  const byGate = GATE_HALTS.has(haltKind(meta) ?? 'other');
  if (!meta.autoRollback || meta.autoRollbackId || !byGate) return halted;
  // Once: the field is claimed before the rollback is created.
  if (!(await store.claimAutoRollback(meta.id))) return halted;
  const { meta: rollback } = await createRollback({ store, originId: meta.id, attachAny: true, submittedBy: `automatic rollback (${haltKind(meta) ?? 'halt'})` });
  await store.setMeta(meta.id, { autoRollbackId: rollback.id });
  return [{ kind: 'halted', reason, rollbackId: rollback.id }];
}

async function advanceWaves(store: BatchStore, meta: BatchMeta, options: StepOptions): Promise<ControllerEvent[]> {
  const waves = meta.waves!;
  const wave = meta.wave ?? 0;
  const last = wave >= waves.length - 1;
  // The last wave is judged too when the batch has a calls gate: its completion waits for that.
  if (last && !(meta.gate && meta.holdCompletion)) return [];
  const counts = await store.counts(meta.id);
  // Agents recorded unchanged at submit (an applied plan's) are not among the rows the waves count.
  if (last ? counts.pending > 0 || !meta.enqueued : doneOf(counts) - (meta.settled ?? 0) < waves[wave]!) return [];
  const events: ControllerEvent[] = [];
  const now = await store.now();
  let doneAt = meta.waveDoneAt;
  if (doneAt === undefined) {
    doneAt = now;
    await store.setMeta(meta.id, { waveDoneAt: doneAt });
    events.push({ kind: 'wave_done', wave });
  }
  if (meta.bakeMs && now < doneAt + meta.bakeMs) return events;
  if (meta.gate) {
    const gated = await gateStep(store, { ...meta, waveDoneAt: doneAt }, wave, now, options);
    events.push(...gated.events);
    if (!gated.passed) return events;
    if (last) {
      // Judged: the batch may end now, as the completion rule says.
      await store.setMeta(meta.id, { holdCompletion: null });
      await store.completeIfDone(meta.id);
      return events;
    }
  }
  if (meta.verifyCmd) {
    const state = await verifyState(store, meta.id, wave);
    if (state === 'none') {
      if (options.runVerify && (await startVerify(store, meta, wave, options.onError ?? (() => {})))) events.push({ kind: 'verifying', wave });
      return events;
    }
    if (state === 'running') return events;
    if (state !== 'passed') {
      const reason = halt('verify_failed', `after wave ${wave + 1}, ${state.failed}`);
      if (await store.transition(meta.id, 'halted', FROM.gateHalt, { haltReason: reason })) {
        events.push({ kind: 'halted', reason });
      }
      return events;
    }
  }
  if (meta.approve && (meta.approvedWave ?? -1) < wave) {
    if (meta.status === 'running' && (await store.transition(meta.id, 'waiting_approval', FROM.awaitApproval))) events.push({ kind: 'waiting_approval', wave });
    return events;
  }
  await releaseWave(store, meta, wave + 1);
  await store.setMeta(meta.id, { wave: wave + 1, waveDoneAt: null });
  if (meta.status === 'waiting_approval') await store.transition(meta.id, 'running', FROM.approve);
  events.push({ kind: 'wave_started', wave: wave + 1 });
  return events;
}

/**
 * The calls gate of a baked wave (SPEC §14): its judgement kept with the batch decides — pass (or an
 * operator's override) goes on; degraded halts `calls_degraded`; too few calls waits, judged again every
 * half bake (1 s to 1 min), until the gate's timeout after the wave's end, then halts
 * `analysis_inconclusive`. A judgement is started only by a worker that can read the calls.
 */
async function gateStep(store: BatchStore, meta: BatchMeta, wave: number, now: number, options: StepOptions): Promise<{ passed: boolean; events: ControllerEvent[] }> {
  const gate = meta.gate!;
  const judged = await storedAnalysis(store, meta.id, wave);
  if (judged?.verdict === 'pass' || judged?.verdict === 'overridden') return { passed: true, events: [] };
  const deadline = meta.waveDoneAt! + Math.max(meta.bakeMs ?? 0, gate.timeoutMs);
  const stop = async (reason: string) => ((await store.transition(meta.id, 'halted', FROM.gateHalt, { haltReason: reason })) ? [{ kind: 'halted' as const, reason }] : []);
  if (judged?.verdict === 'degraded') return { passed: false, events: await stop(halt('calls_degraded', `wave ${wave + 1}: ${judged.why}`)) };
  if (judged?.verdict === 'inconclusive' && judged.at >= deadline) return { passed: false, events: await stop(halt('analysis_inconclusive', `wave ${wave + 1}: ${judged.why}, still after ${Math.round((judged.at - meta.waveDoneAt!) / 1000)} s`)) };
  const again = Math.min(60_000, Math.max(1000, (meta.bakeMs ?? 0) / 2));
  if (judged && now < Math.min(judged.at + again, deadline)) return { passed: false, events: [] };
  if (!options.calls) return { passed: false, events: [] };
  const started = await startAnalysis(store, meta, wave, options.calls, options.onError ?? (() => {}));
  return { passed: false, events: started ? [{ kind: 'analysing', wave }] : [] };
}

/** Moves a held wave's jobs into the queue. Safe to repeat: job ids dedupe, the list goes last. */
async function releaseWave(store: BatchStore, meta: BatchMeta, wave: number): Promise<void> {
  await store.withQueue(meta.id, async (queue) => {
    for await (const items of store.heldJobs(meta.id, wave)) await queue.addBulk(items.map((data) => ({ name: 'agent', data, opts: jobOptions(data.k, meta.options) })));
  });
  await store.dropHeld(meta.id, wave);
}
