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
import type { BatchStore } from '../store/batch-store.js';
import type { Notes } from './notes.js';

/**
 * Whether a journal found in the journal folder begins with a header naming the manifest digest: a
 * cheap look before a full read (`run`'s journals hold one batch, its header on the first line).
 */
async function mentions(file: string, digest: string): Promise<boolean> {
  try {
    for await (const item of splitLines(createReadStream(file, { end: 64 * 1024 }), 64 * 1024)) {
      if ('text' in item && item.text.includes('"t":"batch"') && item.text.includes(JSON.stringify(digest))) return true;
    }
  } catch {
    return false;
  }
  return false;
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
    // A journal named by --journal is read whole: a worker's holds many batches, a header anywhere.
    if (!file && !(await mentions(candidate, digest))) continue;
    for (const journaled of (await readNamed(candidate)).values()) {
      // Under this prefix only: the same manifest run against another prefix is another batch.
      if (journaled.meta.kind === 'rollout' && journaled.meta.digest === digest && journaled.prefix === store.prefix) await rebuild(store, journaled, candidate, notes);
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
