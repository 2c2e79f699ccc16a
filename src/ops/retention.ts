/**
 * Retention: prune old batches, and export a batch to a gzip NDJSON archive (and import it back) — an
 * operator's way to keep history beyond Redis.
 *
 * Archive format, one JSON object per line:
 *   {"type":"batch","version":1,"meta":{…},"counts":{…}}          first line
 *   {"type":"patch","digest":…,"json":…} / {"type":"file","path":…,"text":…}
 *   {"type":"agent","key":…,"status":…,"attempts":…,"error":…,"changed":[…],"before":{…},"after":{…},"job":{…}}
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { UsageError } from '../errors.js';
import { requireBatch } from './actions.js';
import type { BatchStore } from '../store/batch-store.js';
import { FINAL_BATCH_STATUSES } from '../batch/lifecycle.js';
import type { AgentRecord, BatchMeta } from '../batch/records.js';
import { BATCH_ID } from '../store/keys.js';
import { maskUrl } from '../controller/hooks.js';
import { ARCHIVE_VERSION, boundedLines, inertMeta, MAX_LINE_BYTES, parseArchiveLine, type ArchiveLine, type ArchiveMeta } from './archive.js';


/** The batches a prune would delete now, those it keeps (unfinished, or a running rollback's origin), and whether every batch has ended. */
async function sortForPrune(store: BatchStore, ids: readonly string[], cutoff: number): Promise<{ doomed: string[]; kept: string[]; allEnded: boolean }> {
  const metas = new Map<string, BatchMeta | undefined>();
  for (const id of ids) metas.set(id, await store.getBatch(id));
  const originsInUse = new Set([...metas.values()].flatMap((m) => (m?.rollbackOf && !FINAL_BATCH_STATUSES.has(m.status) ? [m.rollbackOf] : [])));
  const doomed: string[] = [];
  const kept: string[] = [];
  for (const id of ids) {
    const meta = metas.get(id);
    if (meta && meta.createdAt > cutoff) continue;
    if ((meta && !FINAL_BATCH_STATUSES.has(meta.status)) || originsInUse.has(id)) kept.push(id);
    else doomed.push(id);
  }
  return { doomed, kept, allEnded: [...metas.values()].every((m) => !m || FINAL_BATCH_STATUSES.has(m.status)) };
}

/**
 * Deletes batches created more than `days` ago that have ended. Never an unfinished batch (halted
 * included: it may be resumed), nor the origin of a rollback that has not finished (the rollback reads
 * the origin's before snapshots as it goes).
 */
export async function pruneBatches(store: BatchStore, days: number, now = Date.now(), confirm?: (question: string) => Promise<void>): Promise<{ pruned: string[]; keptActive: string[]; invalid: string[] }> {
  // A member of the batches index that is no batch id (written by hand, by another tool) names no keys
  // nova-fleet could own: it is left as it is and reported, and the rest of the prune goes on.
  const validIds = async () => {
    const all = await store.listBatchIds();
    return { invalid: all.filter((id) => !BATCH_ID.test(id)), ids: all.filter((id) => BATCH_ID.test(id)) };
  };
  const cutoff = now - days * 86_400_000;
  const { invalid, ids } = await validIds();
  let sorted = await sortForPrune(store, ids, cutoff);
  let doomed = sorted.doomed;
  let keptActive = sorted.kept;
  if (doomed.length > 0 && confirm) {
    // Asked once the batches are known, before the first is deleted (SPEC §17).
    await confirm(`prune: delete ${doomed.length} batch${doomed.length === 1 ? '' : 'es'} older than ${days} days, with every snapshot and record (${doomed.slice(0, 10).join(', ')}${doomed.length > 10 ? ', …' : ''})?`);
    // A person read the question meanwhile: a batch retried since, or the origin of a rollback begun
    // since, is kept after all. Only what was asked about, and still may go, goes.
    const asked = new Set(doomed);
    sorted = await sortForPrune(store, (await validIds()).ids, cutoff);
    doomed = sorted.doomed.filter((id) => asked.has(id));
    keptActive = sorted.kept;
  }
  const pruned: string[] = [];
  for (const id of doomed) {
    // Remembered first: a journal of it found by a later run is a batch gone on purpose, not one Redis
    // lost, and is not rebuilt (journal-recovery.ts) — an interrupted prune leaves it marked, never lost.
    await store.pruned.mark([id], now);
    await store.deleteBatch(id);
    pruned.push(id);
  }
  // The API keys' schedules outlive batches (a day): with no batch left that could use one, they go too.
  // (Only final batches are pruned, and an origin kept in use has an unfinished rollback.)
  if (sorted.allEnded) await store.dropKeySchedules();
  return { pruned, keptActive, invalid };
}

async function* archiveLines(store: BatchStore, meta: BatchMeta): AsyncGenerator<string> {
  // The notify URL is often a secret (a webhook token in its path): an archive carries it masked.
  const shown = meta.notifyUrl ? { ...meta, notifyUrl: maskUrl(meta.notifyUrl) } : meta;
  yield `${JSON.stringify({ type: 'batch', version: ARCHIVE_VERSION, meta: shown, counts: await store.counts(meta.id) })}\n`;
  for (const [wave, json] of Object.entries(await store.analyses(meta.id))) yield `${JSON.stringify({ type: 'analysis', wave: Number(wave), json })}\n`;
  for (const [digest, json] of await store.patchEntries(meta.id)) yield `${JSON.stringify({ type: 'patch', digest, json })}\n`;
  for (const [path, text] of await store.fileEntries(meta.id)) yield `${JSON.stringify({ type: 'file', path, text })}\n`;
  for await (const pairs of store.scanStatuses(meta.id, 500)) {
    for (const [key] of pairs) {
      const record = await store.agentRecord(meta.id, key);
      if (!record) continue;
      const job = await store.agentJob(meta.id, key);
      // When the batch first snapshotted the agent (its place in the agent's history, SPEC §16).
      const at = record.before ? (await store.history.of(key)).find((mark) => mark.batchId === meta.id)?.at : undefined;
      yield `${JSON.stringify({ type: 'agent', ...record, ...(job ? { job: JSON.parse(job) as unknown } : {}), ...(at !== undefined ? { at } : {}) })}\n`;
    }
  }
}

export async function exportBatch(store: BatchStore, batchId: string, file: string): Promise<{ agents: number }> {
  const meta = await requireBatch(store, batchId);
  await pipeline(Readable.from(archiveLines(store, meta)), createGzip(), createWriteStream(file));
  return { agents: meta.total };
}

/** `$file`/`$template` texts an archive may carry (a manifest names a handful). */
const MAX_ARCHIVE_FILES = 10_000;

export interface ImportOptions {
  /** Keep the archive's verify command and notify URL (off: an archive is not trusted to run commands). */
  trust?: boolean;
}

function archiveLinesOf(file: string): AsyncGenerator<string> {
  return boundedLines(createReadStream(file).pipe(createGunzip()), MAX_LINE_BYTES, file);
}

/**
 * How much an archive may expand: its text at most this many times its gzip size (past a floor for
 * small archives). An export of agents with multi-KB prompts compresses ~5–30 times; a gzip bomb
 * thousands (a 16 KB gzip of newlines, a 1.4 MB archive of repeated patches that added 458 MB to Redis).
 */
export const MAX_EXPANSION = 200;
const EXPANSION_FLOOR_BYTES = 64 * 1024 * 1024;

/** Reads the whole archive, checking every line; gzip errors become one clear message. */
async function* checkedLines(file: string): AsyncGenerator<ArchiveLine> {
  let lineNo = 0;
  const budget = Math.max(EXPANSION_FLOOR_BYTES, (await stat(file)).size * MAX_EXPANSION);
  let expanded = 0;
  try {
    for await (const line of archiveLinesOf(file)) {
      lineNo++;
      expanded += line.length + 1;
      if (expanded > budget) throw new UsageError(`${file}: its text is over ${MAX_EXPANSION} times its size (${Math.round(expanded / 2 ** 20)} MB read so far): a gzip bomb, not a nova-fleet archive; nothing was imported`);
      // An export writes no blank line: one (let alone millions of them) is not an archive of ours.
      if (line.trim() === '') throw new UsageError(`${file}:${lineNo}: a blank line: not a nova-fleet archive; nothing was imported`);
      yield parseArchiveLine(line, `${file}:${lineNo}`);
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || /unexpected end of file/i.test((error as Error).message)) {
      throw new UsageError(`${file} is not a complete gzip archive (${lineNo === 0 ? 'not gzip' : `cut after line ${lineNo}`}); nothing was imported`);
    }
    throw error;
  }
}

/**
 * Restores a batch from an archive, all or nothing: a first pass checks every line (schema, ids,
 * sizes, the gzip stream to its end) and writes nothing; the second writes the records, and the
 * metadata last, so an interrupted import leaves no visible half-batch — and a retried one clears its
 * leftovers first. The batch comes back inert (see archive.ts).
 */
export async function importBatch(store: BatchStore, file: string, options: ImportOptions = {}): Promise<{ meta: BatchMeta; agents: number }> {
  let archived: ArchiveMeta | undefined;
  let agents = 0;
  let patches = 0;
  let files = 0;
  let analyses = 0;
  for await (const entry of checkedLines(file)) {
    if (!archived) {
      if (entry.type !== 'batch') throw new UsageError(`${file}:1: not a nova-fleet batch archive (version ${ARCHIVE_VERSION})`);
      archived = entry.meta;
      continue;
    }
    if (entry.type === 'batch') throw new UsageError(`${file}: a second batch line: not a nova-fleet archive`);
    if (entry.type === 'agent') {
      if (entry.job && entry.job.k !== entry.key) throw new UsageError(`${file}: agent ${entry.key}: its job names another agent (${entry.job.k})`);
      // Records bounded by what the batch line declares: an export writes each agent once.
      if (++agents > archived.total) throw new UsageError(`${file}: more agent records than the ${archived.total} its batch line declares: not a nova-fleet archive; nothing was imported`);
    }
    // Patches and files are stored as they are: at most one patch per agent, and a few files.
    if (entry.type === 'patch' && ++patches > Math.max(1, archived.total)) throw new UsageError(`${file}: more patches than the batch has agents (${archived.total}): not a nova-fleet archive; nothing was imported`);
    if (entry.type === 'analysis' && ++analyses > 1000) throw new UsageError(`${file}: more than 1000 wave judgements: not a nova-fleet archive; nothing was imported`);
    if (entry.type === 'file' && ++files > MAX_ARCHIVE_FILES) throw new UsageError(`${file}: more than ${MAX_ARCHIVE_FILES} files: not a nova-fleet archive; nothing was imported`);
  }
  if (!archived) throw new UsageError(`${file} is empty`);
  const meta = inertMeta(archived, options.trust ?? false);
  if (await store.getBatch(meta.id)) throw new UsageError(`batch ${meta.id} already exists under prefix "${store.prefix}"`, 'prune it first');
  // Leftovers of an import that was cut short (records without metadata): cleared before writing.
  await store.deleteBatch(meta.id);
  try {
    for await (const entry of checkedLines(file)) {
      if (entry.type === 'patch') await store.storePatches(meta.id, [[entry.digest, entry.json]]);
      else if (entry.type === 'file') await store.storeFile(meta.id, entry.path, entry.text);
      // An imported batch joins its agents' histories at the time it first snapshotted each (an older
      // archive without it: when the batch was created).
      else if (entry.type === 'agent') await store.importAgent(meta.id, entry as AgentRecord & { job?: unknown }, entry.at ?? meta.createdAt);
      else if (entry.type === 'analysis') await store.saveAnalysis(meta.id, entry.wave, entry.json);
    }
    await store.createBatch({ ...meta, total: agents, enqueued: true }, { listActive: false });
    await store.pruned.forget(meta.id);
  } catch (error) {
    await store.deleteBatch(meta.id).catch(() => {});
    throw error;
  }
  return { meta: (await store.getBatch(meta.id))!, agents };
}
