/**
 * submit: a validated manifest becomes a batch — its record, its stored patches and files, and one job
 * per agent, streamed into BullMQ in chunks. Safe to repeat: the same batch id with the same manifest
 * adds nothing new, and an interrupted submit re-run completes the enqueueing.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileDigest } from '../user-files.js';
import { UsageError } from '../errors.js';
import type { ManifestRow } from '../manifest/types.js';
import { manifestFiles, scanManifest, type ManifestOptions } from '../manifest/validate.js';
import { fileRefs } from '../patch/resolve.js';
import type { BatchStore } from '../store/batch-store.js';
import { FINAL_BATCH_STATUSES } from '../batch/lifecycle.js';
import type { BatchMeta, BatchOptions, RolloutControls } from '../batch/records.js';
import { generateBatchId } from '../batch/batch-id.js';
import { rerunDecision } from '../batch/rerun.js';
import { agentKey } from '../store/keys.js';
import { enqueueAgents } from '../store/job-queue.js';
import { INLINE_PATCH_BYTES, jobFromRow, patchDigest, type AgentJobData } from '../batch/job.js';
import { waveOf } from '../batch/waves.js';
import { scheduleState } from '../batch/window.js';
import { atMost } from '../wait.js';

export interface SubmitInput {
  store: BatchStore;
  /** The manifest rows are read from. */
  file: string;
  /** The manifest as the operator named it, when `file` is its expansion (a selector). */
  manifestName?: string;
  manifestOptions: ManifestOptions;
  batchId: string;
  options: BatchOptions;
  /** Rows per addBulk. Default 1000. */
  chunk?: number;
  /** Staged-rollout controls; `waves` are absolute cumulative targets (waves.ts). */
  controls?: RolloutControls;
  /** The manifest's SHA-256, if the caller has it already (chooseBatch). */
  digest?: string;
  /** Told as soon as the batch exists, before its jobs are enqueued (`run` starts working then). */
  onCreated?: OnCreated;
  /**
   * Agents recorded `unchanged` without a request or a job: an applied plan's agents it found unchanged
   * (SPEC §15). They are not rows: the waves' targets, over the rows, do not count them.
   */
  settled?: readonly string[];
  /** Who submits it (SPEC §16). */
  submittedBy?: string;
}

/**
 * `meta`: the batch, just created. `firstJobs` settles once its first chunk of jobs is in the queue (or
 * the submit ended without one): a worker that looked before found the queue empty and then slept in
 * BullMQ's blocking wait (a cold run of 1,500 agents: its first job 140 ms after the jobs were there).
 */
export type OnCreated = (meta: BatchMeta, firstJobs: Promise<void>) => Promise<void> | void;

/**
 * The longest the rest of a submit waits for a worker in this process to have taken its first jobs
 * (OnCreated's promise): a worker that cannot start delays the enqueue by no more than this.
 */
export const RAMP_WAIT_MS = 500;

export interface SubmitResult {
  batchId: string;
  /** False when the batch already existed (a re-submit). */
  created: boolean;
  /** Agents in the manifest. */
  total: number;
  /** Jobs added by this call (0 on a repeated submit of a finished enqueue). */
  enqueued: number;
  meta: BatchMeta;
}

export { fileDigest } from '../user-files.js';

/**
 * Which batch a submit of a manifest goes to (SPEC §13). `--batch ID` names it. Otherwise a manifest
 * whose content (digest) already made a batch under this prefix goes back to that batch while it has
 * not finished — a re-run after Ctrl-C attaches to it, so no `$replace` is applied twice from a second
 * set of before snapshots — and is refused (exit 2, naming the batch) once it has finished, unless
 * `forceNew`. A new batch gets a readable generated id.
 */
export async function chooseBatch(store: BatchStore, file: string, digest: string, options: { batchId?: string; forceNew?: boolean } = {}): Promise<{ batchId: string; attached?: BatchMeta }> {
  if (options.batchId) return { batchId: options.batchId };
  const previous = options.forceNew ? undefined : await store.batchOfDigest(digest);
  const meta = previous ? await store.getBatch(previous) : undefined;
  const decision = rerunDecision(file, meta, meta && FINAL_BATCH_STATUSES.has(meta.status) ? await store.counts(meta.id) : undefined);
  if ('refuse' in decision) throw decision.refuse;
  return decision.attach ? { batchId: decision.attach.id, attached: decision.attach } : { batchId: generateBatchId(file) };
}


/** A batch id named again must be for the same manifest (its digest): never two manifests in one batch. */
export function requireSameManifest(meta: BatchMeta, digest: string): void {
  if (meta.digest !== digest) throw new UsageError(`batch ${meta.id} already exists with a different manifest`, 'choose another --batch id, or omit it to get a new one');
}

/**
 * The size of a submit's first chunk of jobs (then ×4 each chunk, up to `chunk`): with `run`, what the
 * in-process worker takes while the rest waits (32 jobs at --concurrency 16) and a few more to go on with.
 */
const FIRST_CHUNK = 64;
/**
 * Rows read between two turns of the event loop. Reading a manifest that is already in memory is
 * microtasks only; a worker in this process (`run`'s) shares the loop, and its connection's handshake
 * and first jobs waited for the whole submit (a cold run of 1,500 agents: its first job 310 ms after
 * the batch existed, as the submit ended).
 */
const ROWS_PER_TURN = 64;

/** Records agents `unchanged` with no request (each once: a repeated submit finds them done). Returns how many. */
async function settle(store: BatchStore, batchId: string, keys: readonly string[]): Promise<number> {
  let count = 0;
  for (let i = 0; i < keys.length; i += 1000) {
    const chunk = keys.slice(i, i + 1000);
    const flags = await store.register(batchId, chunk);
    const fresh = chunk.filter((_key, j) => flags[j] === 'new');
    for (const key of fresh) await store.finish(batchId, key, 'unchanged', 'pending', { error: 'unchanged when the plan read it: no request sent' });
    await store.addToTotal(batchId, fresh.length);
    count += chunk.length;
  }
  return count;
}

export async function submitBatch(input: SubmitInput): Promise<SubmitResult> {
  const { store, file, batchId, options } = input;
  const digest = input.digest ?? (await fileDigest(file));
  // Before its start or outside its window a batch waits, its queue paused (no job is even picked up).
  const schedule = scheduleState(input.controls ?? {}, await store.now());
  const initialStatus = schedule === 'not_yet' ? 'scheduled' : schedule === 'closed' ? 'waiting_window' : 'running';
  const { created, meta } = await store.createBatch({
    id: batchId,
    kind: 'rollout',
    manifest: input.manifestName ?? file,
    digest,
    createdAt: Date.now(),
    status: initialStatus,
    total: 0,
    enqueued: false,
    options,
    ...input.controls,
    ...(input.controls?.waves ? { wave: 0, approvedWave: -1 } : {}),
    ...(input.settled?.length ? { settled: input.settled.length } : {}),
    ...(input.submittedBy ? { submittedBy: input.submittedBy } : {}),
  });
  if (!created) requireSameManifest(meta, digest);
  if (created) await store.setBatchOfDigest(digest, batchId);
  let firstJobsWritten!: () => void;
  const firstJobs = new Promise<void>((resolve) => (firstJobsWritten = resolve));
  if (!created) firstJobsWritten(); // a re-submit: its jobs are in the queue already
  // Settles once a worker in this process (`run`'s) has its first jobs under way: the rest waits for it.
  let ramped = input.onCreated?.(meta, firstJobs) ?? undefined;
  const files = manifestFiles(file, input.manifestOptions);
  const storedFiles = new Set<string>();
  const storedPatches = new Set<string>();
  const queue = store.queue(batchId);
  if (created && initialStatus !== 'running') await queue.pause();
  const chunkSize = input.chunk ?? 1000;
  // The first chunks are small and grow to chunkSize: a worker already serving the batch (`run`'s own)
  // starts on the first agents while the rest are written, instead of after 1,000 jobs were built.
  let nextChunk = Math.min(FIRST_CHUNK, chunkSize);
  let total = 0;
  let enqueued = 0;
  let chunk: ManifestRow[] = [];
  /** Manifest position of each row, which decides its wave. */
  let position = 0;
  const waveOfRow = new Map<ManifestRow, number>();
  const waves = meta.waves;

  /**
   * Chunks are independent (their own agents, an atomic total), so a few are written at once while the
   * next is parsed: Redis and the parser overlap instead of taking turns.
   */
  const inFlight = new Set<Promise<void>>();
  const MAX_IN_FLIGHT = 3;
  const flush = async () => {
    if (chunk.length === 0) return;
    const rows = chunk;
    chunk = [];
    const keys = rows.map((row) => agentKey(row.orgId, row.agentId));
    // Patches and files first: a job must never run before what it refers to is stored.
    const rowsPatch = new Map<ManifestRow, string>();
    const newPatches: Array<[string, string]> = [];
    for (const row of rows) {
      const json = JSON.stringify(row.patch);
      if (json.length < INLINE_PATCH_BYTES) continue;
      const p = patchDigest(json);
      rowsPatch.set(row, p);
      if (!storedPatches.has(p)) {
        // Bounded memory for manifests whose every row has its own patch.
        if (storedPatches.size > 10_000) storedPatches.clear();
        storedPatches.add(p);
        newPatches.push([p, json]);
      }
    }
    for (const row of rows) {
      for (const ref of fileRefs(row.patch)) {
        if (!storedFiles.has(ref)) {
          await store.storeFile(batchId, ref, await files.text(ref));
          storedFiles.add(ref);
        }
      }
    }
    await store.storePatches(batchId, newPatches);
    // An applied plan's snapshots, before any job can look for them (SPEC §15).
    await store.storePlanned(batchId, rows.flatMap((row, i) => (row.planned ? [[keys[i]!, row.planned.before] as [string, typeof row.planned.before]] : [])));
    const items: AgentJobData[] = [];
    // Agents of later waves are registered now, their jobs held until their wave is released.
    const later = new Map<number, AgentJobData[]>();
    rows.forEach((row, i) => {
      const digest = rowsPatch.get(row);
      const data = jobFromRow(keys[i]!, row, digest);
      const wave = waveOfRow.get(row) ?? 0;
      waveOfRow.delete(row);
      if (wave === 0) items.push(data);
      else later.set(wave, [...(later.get(wave) ?? []), data]);
    });
    // Read-modify-write after the await: chunks are written concurrently, and `x += await …` would read
    // `x` before waiting and lose the other chunks' updates.
    const added = await enqueueAgents(store, queue, batchId, options, items, firstJobsWritten);
    enqueued += added;
    total += rows.length;
    for (const [wave, held] of later) await store.hold(batchId, wave, held);
  };

  try {
    const rows = scanManifest(file, input.manifestOptions);
    for (;;) {
      const next = await rows.next();
      if (next.done) {
        if (!next.value.ok) throw new UsageError(`${file} changed while it was being submitted`, 'submit again');
        break;
      }
      chunk.push(next.value);
      if (waves) waveOfRow.set(next.value, waveOf(position, waves));
      position++;
      if (position % ROWS_PER_TURN === 0) await nextTurn();
      if (chunk.length >= nextChunk) {
        nextChunk = Math.min(nextChunk * 4, chunkSize);
        if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
        const writing: Promise<void> = flush().finally(() => inFlight.delete(writing));
        writing.catch(() => {}); // handled: its error is rethrown where it is awaited below
        inFlight.add(writing);
        if (ramped) {
          // The first chunk written, the rest waits until this process's worker has taken its first jobs:
          // each job is fetched by a Redis round trip of its own, and written alongside, the other chunks'
          // work (~150 µs of CPU per agent) stretched those trips — 32 jobs were reached in ~300 ms, with
          // few requests out meanwhile; waiting, in 25–85 ms (issue 30). Later chunks fill the idle time
          // between replies instead. Bounded: a worker that cannot start delays the rest by RAMP_WAIT_MS.
          await writing;
          await atMost(ramped.catch(() => {}), RAMP_WAIT_MS);
          ramped = undefined;
        }
      }
    }
    await Promise.all(inFlight);
    await flush();
    if (input.settled?.length) total += await settle(store, batchId, input.settled);
    await store.markEnqueued(batchId);
    await store.completeIfDone(batchId);
  } finally {
    firstJobsWritten(); // none this time (a repeated submit), or the submit failed: the worker looks anyway
    await Promise.allSettled(inFlight); // never close the queue under a chunk still being written
    await queue.close();
  }
  return { batchId, created, total, enqueued, meta: (await store.getBatch(batchId))! };
}
