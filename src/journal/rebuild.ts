/**
 * A batch lost from Redis, rebuilt from its journal (journal.ts): its metadata, every original the
 * journal holds, and every agent it says the batch changed. The rebuilt batch is `running`, its jobs not
 * yet enqueued: a re-run of the same manifest attaches to it and enqueues only the agents not changed
 * (each against its journaled original, so `$replace` applies once), and `rollback` restores from it.
 * The journal is untrusted input: every line is checked; a torn last line (a crash mid-write) is skipped.
 */
import { createReadStream } from 'node:fs';
import * as z from 'zod';
import { splitLines } from '../lines.js';
import type { Agent } from '../api/types.js';
import { UsageError } from '../errors.js';
import { agentKeySchema, MAX_LINE_BYTES, OptionsSchema } from '../ops/archive.js';
import type { BatchStore } from '../store/batch-store.js';
import type { BatchMeta } from '../batch/records.js';
import { BATCH_ID } from '../store/keys.js';

const agent = z.record(z.string(), z.unknown());
const LineSchema = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('batch'),
    v: z.literal(1),
    prefix: z.string().max(200),
    meta: z.object({ id: z.string().regex(BATCH_ID), kind: z.enum(['rollout', 'rollback']), manifest: z.string().max(4096), digest: z.string().max(128), createdAt: z.number().int().positive(), options: OptionsSchema, rollbackOf: z.string().regex(BATCH_ID).optional() }),
  }),
  z.object({ t: z.literal('before'), v: z.literal(1), batch: z.string().regex(BATCH_ID), k: agentKeySchema, before: agent }),
  z.object({ t: z.literal('changed'), v: z.literal(1), batch: z.string().regex(BATCH_ID), k: agentKeySchema, status: z.enum(['applied', 'restored']), changed: z.array(z.string().max(200)).max(100), after: agent }),
]);
type Line = z.infer<typeof LineSchema>;

/** What a journal holds for one batch. */
export interface JournaledBatch {
  meta: Extract<Line, { t: 'batch' }>['meta'];
  /** The Redis key prefix it ran under. */
  prefix: string;
  /** The first before snapshot of each agent. */
  originals: Map<string, Agent>;
  /** Agents the batch changed, with what it changed. */
  changed: Map<string, { status: 'applied' | 'restored'; changed: string[]; after: Agent }>;
}

/** The batches a journal file holds (a worker's journal may hold several), checked line by line. */
export async function readJournal(file: string): Promise<Map<string, JournaledBatch>> {
  type Partial = Omit<JournaledBatch, 'meta' | 'prefix'> & { meta?: JournaledBatch['meta']; prefix?: string };
  const batches = new Map<string, Partial>();
  let torn: string | undefined;
  // Lines split on bytes with a bound (one agent each, as an archive's): a hostile file costs a bounded
  // buffer, not the process.
  for await (const item of splitLines(createReadStream(file), MAX_LINE_BYTES)) {
    if (torn !== undefined) throw new UsageError(torn); // a bad line that was not the last
    if ('tooLong' in item) {
      torn = `${file}:${item.line}: a line longer than ${MAX_LINE_BYTES} bytes: not a nova-fleet journal line`;
      continue;
    }
    if (item.text.trim() === '') continue;
    let line: Line;
    try {
      line = LineSchema.parse(JSON.parse(item.text));
    } catch (error) {
      const issue = error instanceof z.ZodError ? error.issues[0] : undefined;
      torn = `${file}:${item.line}: not a nova-fleet journal line (${issue ? `${issue.path.join('.') || 'line'}: ${issue.message}` : (error as Error).message.slice(0, 200)})`;
      continue;
    }
    // Lines of concurrent jobs land in any order, a header after its batch's first agent included.
    const id = line.t === 'batch' ? line.meta.id : line.batch;
    const batch: Partial = batches.get(id) ?? { originals: new Map(), changed: new Map() };
    batches.set(id, batch);
    if (line.t === 'batch' && !batch.meta) Object.assign(batch, { meta: line.meta, prefix: line.prefix });
    if (line.t === 'before' && !batch.originals.has(line.k)) batch.originals.set(line.k, line.before as Agent);
    if (line.t === 'changed') batch.changed.set(line.k, { status: line.status, changed: line.changed, after: line.after as Agent });
  }
  const headless = [...batches].find(([, batch]) => !batch.meta);
  if (headless) throw new UsageError(`${file}: agents of batch ${headless[0]} without that batch's header line: not a nova-fleet journal`);
  return batches as Map<string, JournaledBatch>;
}

/**
 * Rebuilds `journaled` in Redis if Redis has no batch of that id; returns the rebuilt metadata, or
 * undefined when Redis still has the batch (nothing to do).
 */
export async function rebuildBatch(store: BatchStore, journaled: JournaledBatch): Promise<BatchMeta | undefined> {
  const { meta } = journaled;
  if (journaled.prefix !== store.prefix) throw new UsageError(`the journal's batch ${meta.id} ran under prefix "${journaled.prefix}", not "${store.prefix}"`, `give --prefix ${journaled.prefix}`);
  if (await store.getBatch(meta.id)) return undefined;
  await store.deleteBatch(meta.id); // leftovers of a half-lost batch
  const keys = [...journaled.originals.keys()];
  for (let i = 0; i < keys.length; i += 1000) await store.register(meta.id, keys.slice(i, i + 1000));
  for (const [key, before] of journaled.originals) {
    await store.saveBefore(meta.id, key, before);
    const change = journaled.changed.get(key);
    if (change) await store.finish(meta.id, key, change.status, 'pending', { before, after: change.after, changed: change.changed });
  }
  // Metadata last: an interrupted rebuild is records without a batch, cleared by the next one.
  await store.createBatch({ ...meta, status: 'running', total: keys.length, enqueued: false });
  if (meta.kind === 'rollout') await store.setBatchOfDigest(meta.digest, meta.id);
  // Brought back on purpose (`rollback --journal`): no longer a pruned batch.
  await store.pruned.forget(meta.id);
  return store.getBatch(meta.id);
}
