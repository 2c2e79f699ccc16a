/**
 * Batches Redis lost, brought back from the local journal (issue 25; src/journal). A re-run of the same
 * manifest looks in the journals for a batch of that manifest that Redis no longer has and rebuilds it
 * first — so the re-run attaches to it and changes no agent a second time; `rollback --journal FILE`
 * rebuilds the batch it is asked to undo.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { createReadStream } from 'node:fs';
import { UsageError } from '../errors.js';
import { splitLines } from '../lines.js';
import { journalDir } from '../journal/journal.js';
import { readJournal, rebuildBatch, type JournaledBatch } from '../journal/rebuild.js';
import { BATCH_ID } from '../store/keys.js';
import type { BatchStore } from '../store/batch-store.js';
import type { Notes } from './notes.js';

/**
 * The batches of this manifest digest a journal found in the journal folder names in its first 64 KiB:
 * a cheap look before a full read (`run`'s journals hold one batch, its header on the first line or,
 * as lines of concurrent jobs land in any order, a little after).
 */
async function headsOf(file: string, digest: string): Promise<Array<{ id: string; prefix: string }>> {
  const heads: Array<{ id: string; prefix: string }> = [];
  try {
    for await (const item of splitLines(createReadStream(file, { end: 64 * 1024 }), 64 * 1024)) {
      if (!('text' in item) || !item.text.includes('"t":"batch"') || !item.text.includes(JSON.stringify(digest))) continue;
      // Untrusted: only a header of the expected shape names a batch; the full read checks every line.
      const line = (() => {
        try {
          return JSON.parse(item.text) as { t?: unknown; prefix?: unknown; meta?: { id?: unknown; digest?: unknown } };
        } catch {
          return undefined;
        }
      })();
      const id = line?.meta?.id;
      if (line?.t === 'batch' && line.meta?.digest === digest && typeof line.prefix === 'string' && typeof id === 'string' && BATCH_ID.test(id)) heads.push({ id, prefix: line.prefix });
    }
  } catch {
    return heads;
  }
  return heads;
}

/**
 * Whether a journal's batch is one Redis lost: under this prefix, not in Redis, and not deleted on
 * purpose by `prune` (its journal outlives it: a re-run then makes a new batch, as after any prune).
 */
async function lost(store: BatchStore, id: string): Promise<boolean> {
  return !(await store.getBatch(id)) && !(await store.pruned.has(id));
}

async function rebuild(store: BatchStore, journaled: JournaledBatch, file: string, notes: Notes): Promise<boolean> {
  const rebuilt = await rebuildBatch(store, journaled);
  if (!rebuilt) return false;
  notes.note(`journal: batch ${rebuilt.id} was gone from Redis — rebuilt from ${file}: ${journaled.originals.size} original${journaled.originals.size === 1 ? '' : 's'}, ${journaled.changed.size} agent${journaled.changed.size === 1 ? '' : 's'} already changed (never changed again)`);
  return true;
}

/** Before a submit: the manifest's batch, if Redis lost it and a journal (`file`, or .nova-fleet/) has it. */
export async function recoverLostBatch(store: BatchStore, digest: string, file: string | false | undefined, notes: Notes): Promise<void> {
  if (file === false) return;
  let files: string[];
  if (file) files = [file];
  else {
    try {
      const dir = journalDir();
      files = (await readdir(dir)).filter((name) => name.endsWith('.journal.ndjson')).map((name) => path.join(dir, name));
    } catch {
      return; // no journal here
    }
  }
  for (const candidate of files) {
    // A journal named by --journal is read whole: a worker's holds many batches, a header anywhere. One
    // found in the folder is read whole only if its head names a batch of this manifest that Redis lost:
    // the journals of every earlier run of the same manifest stay there, and reading each of them
    // whole made every run slower than the last (issue 30: with seven 17 MB journals of 1,500 agents
    // in the folder a run took 8.3–9.5 s, 5.6–6.2 s without them).
    if (!file) {
      let any = false;
      for (const head of await headsOf(candidate, digest)) if (head.prefix === store.prefix && (await lost(store, head.id))) any = true;
      if (!any) continue;
    }
    for (const journaled of (await readNamed(candidate)).values()) {
      // Under this prefix only: the same manifest run against another prefix is another batch.
      if (journaled.meta.kind === 'rollout' && journaled.meta.digest === digest && journaled.prefix === store.prefix && (await lost(store, journaled.meta.id))) await rebuild(store, journaled, candidate, notes);
    }
  }
}

/**
 * A journal as readJournal reads it; one that does not exist yet holds nothing (`run --journal FILE`
 * names the file it is about to write), one that cannot be read is exit 2 naming it.
 */
async function readNamed(file: string): Promise<Map<string, JournaledBatch>> {
  try {
    return await readJournal(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return new Map();
    if (code) throw new UsageError(`the journal ${file} cannot be read: ${(error as Error).message}`);
    throw error;
  }
}

/** `rollback --journal FILE`: the batch to undo, rebuilt from FILE if Redis lost it. */
export async function recoverForRollback(store: BatchStore, batchId: string, file: string, notes: Notes): Promise<void> {
  const journaled = (await readNamed(file)).get(batchId);
  if (!journaled) throw new UsageError(`${file} holds no batch ${batchId}`, 'name the journal of that batch (.nova-fleet/BATCH.journal.ndjson, or the worker\'s --journal file)');
  await rebuild(store, journaled, file, notes);
}
