/**
 * Submitting a manifest (`submit`, and the first half of `run` and `apply`): validate, preflight the
 * keys, create the batch — or carry on with the manifest's unfinished one — and enqueue its jobs. The
 * same --batch id submitted again enqueues nothing new; workers (`nova-fleet worker`) do the work.
 */
import { DEFAULTS } from '../config.js';
import { checkBatchId } from '../batch/batch-id.js';
import { chooseBatch, fileDigest, requireSameManifest, submitBatch, type OnCreated, type SubmitResult } from './create-batch.js';
import type { BatchMeta, BatchOptions } from '../batch/records.js';
import type { BatchStatus } from '../batch/lifecycle.js';
import { fitWarning } from '../worker/redis-full.js';
import { recoverLostBatch } from './journal-recovery.js';
import { rolloutControls, type ControlRequest } from '../batch/controls.js';
import { fitBeforeDeadline } from '../batch/fit.js';
import { windowSpec } from '../batch/window.js';
import { UsageError } from '../errors.js';
import { actorName, recordAction } from './actor.js';
import type { RolloutControls } from '../batch/records.js';
import { keyId } from '../api/credentials.js';
import { openStore, type ApiFlags, type RedisFlags, type StoreContext } from './context.js';
import { refuseNonManifest, requireValidManifest, type ManifestFlags } from './manifest-gate.js';
import { manifestSource, type ManifestSource } from './manifest-source.js';
import type { Notes } from './notes.js';

/** The flags of `submit` (and `run`, `apply`); the rollout's controls (SPEC §9) as batch/controls.ts takes them. */
export interface SubmitFlags extends ManifestFlags, RedisFlags, ApiFlags, ControlRequest {
  batch?: string;
  attempts?: number;
  /** (run) Prometheus metrics on this port. */
  metricsPort?: number;
  /** Seconds without one successful request (while errors go on) before the batch halts. Default 60. */
  outageHalt?: number;
  /** PATCHes per second at most, inside --rate, shared by every batch on the API key (SPEC §15). */
  writeRate?: number;
  /** A new batch even if this manifest already has one (SPEC §13). */
  new?: boolean;
  /** `--no-preflight`: false skips the one GET per org before the batch is created. */
  preflight?: boolean;
  /** The budget of each API key the manifest's orgs use, shared by every batch on it (SPEC §10). */
  keyRate?: number;
  /** Submit a batch that cannot finish before its --deadline at its rate anyway (SPEC §15). */
  allowOverrun?: boolean;
}

/** Flags that shape a batch when it is created; an existing batch keeps its own. */
const CONTROL_FLAGS = ['waves', 'bake', 'approve', 'fourEyes', 'maxFailures', 'autoRollback', 'startAt', 'window', 'deadline', 'verifyCmd', 'verifyEnv', 'notify', 'gate', 'maxDrop', 'confidence', 'minCalls', 'gateTimeout', 'gateMaxPages'] as const;

/** Defaults of a batch's retry policy (SPEC §5). */
export const RETRY_DEFAULTS = { attempts: 6, backoffMs: 1000, backoffCapMs: 60_000 } as const;

export async function submitWith(ctx: StoreContext, file: string, flags: SubmitFlags, notes: Notes, onCreated?: OnCreated, command: 'submit' | 'run' = 'submit'): Promise<SubmitResult> {
  await refuseNonManifest(file, command);
  const checked = await requireValidManifest(file, flags, notes);
  const { preflight } = await import('./preflight.js');
  // Every org has a key, or exit 2 (a selector's orgs are checked as it is expanded).
  await preflight(ctx.config, checked.summary.orgSamples, notes, { read: false });
  const digest = await fileDigest(file);
  // A batch of this manifest that Redis lost comes back from the journal first: the re-run attaches to it.
  await recoverLostBatch(ctx.store, digest, flags.journal, notes);
  const { batchId, attached } = await chooseBatch(ctx.store, file, digest, { ...(flags.batch ? { batchId: checkBatchId(flags.batch) } : {}), ...(flags.new ? { forceNew: true } : {}) });
  // A selector's batch is frozen to the agents it found: a re-run (attached, or named by --batch) carries
  // on with them and never selects again.
  const existing = checked.summary.selector ? (attached ?? (await ctx.store.getBatch(batchId))) : undefined;
  if (existing?.enqueued) {
    requireSameManifest(existing, digest);
    notes.note(`submit: ${file} already has batch ${batchId} (${existing.status}): carrying on with its ${existing.total} selected agents — nothing is selected or enqueued again (--new makes a separate batch)`);
    return settle(ctx, batchId, flags, notes, { batchId, created: false, total: existing.total, enqueued: 0, meta: existing });
  }
  const source = await manifestSource(file, checked, flags, ctx.config, notes);
  try {
    return await submitSource(ctx, file, source, digest, { batchId, attached }, flags, notes, onCreated, {}, command);
  } finally {
    await source.dispose();
  }
}

/**
 * Creates (or carries on with) the batch `target` names from a validated source: the preflight, the
 * batch's options and controls, the enqueueing. `file` is the manifest or plan as the operator named it.
 */
export async function submitSource(ctx: StoreContext, file: string, source: ManifestSource, digest: string, target: { batchId: string; attached?: BatchMeta | undefined }, flags: SubmitFlags, notes: Notes, onCreated?: OnCreated, kind: Pick<BatchOptions, 'planned' | 'freshnessMs'> = {}, action: 'submit' | 'run' | 'apply' | null = kind.planned ? 'apply' : 'submit'): Promise<SubmitResult> {
  const { report } = source;
  const { batchId, attached } = target;
  const { preflight } = await import('./preflight.js');
  // The API takes every org's key — one GET per org — before anything is created (SPEC §10).
  if (flags.preflight !== false) await preflight(ctx.config, report.summary.orgSamples, notes);
  if (flags.keyRate !== undefined) {
    const ring = (await import('./api-context.js')).keyRing(ctx.config);
    const ids = new Set(report.summary.orgSamples.map((s) => ring.keyFor(s.org_id)).filter((k): k is string => k !== undefined).map(keyId));
    for (const id of ids) await ctx.store.setKeyRate(id, flags.keyRate);
    notes.note(`submit: ${ids.size} API key${ids.size === 1 ? '' : 's'} at up to ${flags.keyRate} requests/s, shared by every batch using ${ids.size === 1 ? 'it' : 'them'}`);
  }
  if (attached) notes.note(`submit: ${file} already has batch ${batchId} (${attached.status}), not finished: carrying on with it — nothing is enqueued twice (--new makes a separate batch)`);
  const options: BatchOptions = {
    rate: flags.rate ?? DEFAULTS.rate,
    attempts: flags.attempts ?? RETRY_DEFAULTS.attempts,
    backoffMs: RETRY_DEFAULTS.backoffMs,
    backoffCapMs: RETRY_DEFAULTS.backoffCapMs,
    ...(flags.outageHalt !== undefined ? { outageHaltMs: flags.outageHalt * 1000 } : {}),
    ...(flags.writeRate !== undefined ? { writeRate: flags.writeRate } : {}),
    ...kind,
  };
  const total = report.summary.agents;
  const controls = rolloutControls(flags, total);
  // Before anything is said or created: a batch that cannot fit its deadline is refused here.
  if (!attached && controls.deadline !== undefined) requireFit(total, options.rate, flags.keyRate, controls, flags.allowOverrun === true, notes);
  notes.note(`submit: ${total} agents from ${file} → batch ${batchId} (Redis ${ctx.target.source}, prefix ${ctx.config.prefix})`);
  if (controls.waves) notes.note(`submit: waves of ${controls.waves.join(' → ')} agents${controls.bakeMs ? `, ${controls.bakeMs / 1000}s bake` : ''}${controls.approve ? ', approval after each' : ''}`);
  if (controls.startAt !== undefined || controls.window || controls.deadline !== undefined) {
    notes.note(`submit: requests ${controls.startAt !== undefined ? `from ${new Date(controls.startAt).toISOString()} ` : ''}${controls.window ? `inside "${controls.window}" ` : ''}${controls.deadline !== undefined ? `until ${new Date(controls.deadline).toISOString()} (then the rest is skipped)` : ''}`.trim());
  }
  if (controls.maxFailures !== undefined) notes.note(`submit: error budget ${controls.maxFailures} failed agent${controls.maxFailures === 1 ? '' : 's'}${controls.autoRollback ? ', then automatic rollback' : ''}`);
  if (!attached) {
    const warning = await fitWarning(ctx.store, total);
    if (warning) notes.note(`submit: ${warning}`);
  }
  const result = await submitBatch({ store: ctx.store, file: source.rows, manifestName: file, manifestOptions: source.options, batchId, options, controls, digest, ...(onCreated ? { onCreated } : {}), ...(source.settled?.length ? { settled: source.settled } : {}), submittedBy: actorName() });
  // In the audit log under the operator's verb (null: the caller records its own, as restore does).
  if (result.created && action) await recordAction(ctx.store, action, { batch: batchId, reason: flags.reason, detail: `${total} agents from ${file}` });
  return settle(ctx, batchId, flags, notes, result);
}

/** A duration as people say it: 45 s, 12 min, 3.5 h. */
function spoken(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/**
 * A batch that cannot finish before its deadline at the rate that limits it (its --rate, or its key's
 * if lower) is refused with both figures (exit 2) — unless --allow-overrun, and then it is said.
 */
function requireFit(agents: number, rate: number, keyRate: number | undefined, controls: RolloutControls, allowOverrun: boolean, notes: Notes): void {
  const limit = Math.min(rate, keyRate ?? rate);
  const fit = fitBeforeDeadline({ agents, requestsPerAgent: 2, rate: limit, waves: controls.waves, bakeMs: controls.bakeMs }, { startAt: controls.startAt, window: controls.window ? windowSpec(controls.window) : undefined, deadline: controls.deadline! }, Date.now());
  if (fit.fits) return;
  const said = `it needs ~${spoken(fit.needMs)} (${fit.requests.toLocaleString('en')} requests at ${limit}/s${controls.waves && controls.bakeMs ? `, and ${controls.waves.length - 1} bake${controls.waves.length === 2 ? '' : 's'} of ${spoken(controls.bakeMs)}` : ''}), and its schedule leaves ${spoken(fit.openMs)} before --deadline ${new Date(controls.deadline!).toISOString()}`;
  if (allowOverrun) {
    notes.note(`submit: this batch cannot finish before its deadline — ${said}; --allow-overrun: agents not reached by then will be skipped`);
    return;
  }
  throw new UsageError(`this batch cannot finish before its deadline: ${said}`, 'give a later --deadline, a higher --rate (if the API allows it), fewer agents, or --allow-overrun to submit it anyway (agents not reached by the deadline are skipped)');
}

/** After a submit: a re-run may change the rate and nothing else (SPEC §13); says what happened. */
async function settle(ctx: StoreContext, batchId: string, flags: SubmitFlags, notes: Notes, result: SubmitResult): Promise<SubmitResult> {
  if (!result.created) {
    // An existing batch keeps its own settings; only the rate may be changed by a re-run (SPEC §13).
    if (flags.rate !== undefined && flags.rate !== result.meta.options.rate) {
      await ctx.store.setRate(batchId, flags.rate);
      notes.note(`submit: batch ${batchId} rate changed from ${result.meta.options.rate} to ${flags.rate} requests/s`);
      result.meta.options.rate = flags.rate;
    }
    const ignored = CONTROL_FLAGS.filter((flag) => flags[flag] !== undefined);
    if (ignored.length > 0 || flags.attempts !== undefined) notes.note(`submit: batch ${batchId} keeps the settings it was created with; not re-applied: ${[...ignored, ...(flags.attempts !== undefined ? ['attempts'] : [])].map((f) => `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}`);
  }
  notes.note(
    result.created
      ? `submit: batch ${batchId} created, ${result.enqueued} jobs enqueued`
      : `submit: batch ${batchId} already existed (${result.meta.status}); ${result.enqueued} job${result.enqueued === 1 ? '' : 's'} added`,
  );
  return result;
}

/** What `submit` reports (its `--json`, the library's result). */
export interface SubmitSummary {
  batchId: string;
  created: boolean;
  total: number;
  enqueued: number;
  status: BatchStatus;
}

export function submitSummary(result: SubmitResult): SubmitSummary {
  return { batchId: result.batchId, created: result.created, total: result.total, enqueued: result.enqueued, status: result.meta.status };
}

/** `submit MANIFEST`: the batch created (or carried on with) and its jobs enqueued; workers do the work. */
export async function submitManifest(file: string, flags: SubmitFlags, notes: Notes): Promise<SubmitSummary> {
  const ctx = await openStore(flags);
  try {
    return submitSummary(await submitWith(ctx, file, flags, notes));
  } finally {
    ctx.close();
  }
}
