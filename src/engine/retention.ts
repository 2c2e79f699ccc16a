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
import { createInterface } from 'node:readline';
import { createGunzip, createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { UsageError } from '../errors.js';
import { requireBatch } from './control.js';
import { FINAL_BATCH_STATUSES, type AgentRecord, type BatchMeta, type BatchStore } from '../store/batch-store.js';

const ARCHIVE_VERSION = 1;

/** Deletes batches created more than `days` ago that are no longer active. */
export async function pruneBatches(store: BatchStore, days: number, now = Date.now()): Promise<{ pruned: string[]; keptActive: string[] }> {
  const pruned: string[] = [];
  const keptActive: string[] = [];
  for (const id of await store.listBatchIds()) {
    const meta = await store.getBatch(id);
    if (meta && meta.createdAt > now - days * 86_400_000) continue;
    if (meta && !FINAL_BATCH_STATUSES.has(meta.status) && meta.status !== 'halted') {
      keptActive.push(id);
      continue;
    }
    await store.deleteBatch(id);
    pruned.push(id);
  }
  return { pruned, keptActive };
}

async function* archiveLines(store: BatchStore, meta: BatchMeta): AsyncGenerator<string> {
  yield `${JSON.stringify({ type: 'batch', version: ARCHIVE_VERSION, meta, counts: await store.counts(meta.id) })}\n`;
  for (const [digest, json] of Object.entries(await store.redis.hgetall(store.keys.patches(meta.id)))) yield `${JSON.stringify({ type: 'patch', digest, json })}\n`;
  for (const [path, text] of Object.entries(await store.redis.hgetall(store.keys.files(meta.id)))) yield `${JSON.stringify({ type: 'file', path, text })}\n`;
  for await (const pairs of store.scanStatuses(meta.id, 500)) {
    for (const [key] of pairs) {
      const record = await store.agentRecord(meta.id, key);
      if (!record) continue;
      const job = await store.redis.hget(store.keys.agent(meta.id, key), 'job');
      yield `${JSON.stringify({ type: 'agent', ...record, ...(job ? { job: JSON.parse(job) as unknown } : {}) })}\n`;
    }
  }
}

export async function exportBatch(store: BatchStore, batchId: string, file: string): Promise<{ agents: number }> {
  const meta = await requireBatch(store, batchId);
  await pipeline(Readable.from(archiveLines(store, meta)), createGzip(), createWriteStream(file));
  return { agents: meta.total };
}

export async function importBatch(store: BatchStore, file: string): Promise<{ meta: BatchMeta; agents: number }> {
  const lines = createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity });
  let meta: BatchMeta | undefined;
  let agents = 0;
  let lineNo = 0;
  try {
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      let entry: { type?: string } & Record<string, unknown>;
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        throw new UsageError(`${file}:${lineNo}: not a nova-fleet archive line (invalid JSON)`);
      }
      if (!meta) {
        if (entry.type !== 'batch' || entry.version !== ARCHIVE_VERSION) throw new UsageError(`${file}:${lineNo}: not a nova-fleet batch archive (version ${ARCHIVE_VERSION})`);
        const incoming = entry.meta as BatchMeta;
        if (await store.getBatch(incoming.id)) throw new UsageError(`batch ${incoming.id} already exists under prefix "${store.keys.prefix}"`, 'prune or rename it first');
        meta = { ...incoming, total: 0, enqueued: false };
        await store.createBatch(meta);
        continue;
      }
      if (entry.type === 'patch') await store.storePatches(meta.id, [[String(entry.digest), String(entry.json)]]);
      else if (entry.type === 'file') await store.storeFile(meta.id, String(entry.path), String(entry.text));
      else if (entry.type === 'agent') {
        await store.importAgent(meta.id, entry as unknown as AgentRecord & { job?: unknown });
        agents++;
      } else throw new UsageError(`${file}:${lineNo}: unknown entry type "${String(entry.type)}"`);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'Z_DATA_ERROR') throw new UsageError(`${file} is not a gzip archive`);
    throw error;
  }
  if (!meta) throw new UsageError(`${file} is empty`);
  await store.setMeta(meta.id, { total: agents, enqueued: '1' });
  return { meta: (await store.getBatch(meta.id))!, agents };
}
