/**
 * Batches Redis lost, brought back from the local journal (issue 25; src/journal). A re-run of the same
 * manifest looks in the journals for a batch of that manifest that Redis no longer has and rebuilds it
 * first — so the re-run attaches to it and changes no agent a second time; `rollback --journal FILE`
 * rebuilds the batch it is asked to undo.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { UsageError } from '../errors.js';
import { journalDir } from '../journal/journal.js';
import { readJournal, rebuildBatch, type JournaledBatch } from '../journal/rebuild.js';
import type { BatchStore } from '../store/batch-store.js';
import type { Output } from './output.js';

/** Whether the file's first lines name the manifest digest (a cheap look before a full read). */
async function mentions(file: string, digest: string): Promise<boolean> {
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8', end: 64 * 1024 }), crlfDelay: Infinity });
  try {
    for await (const line of lines) if (line.includes('"t":"batch"') && line.includes(JSON.stringify(digest))) return true;
  } catch {
    return false;
  }
  return false;
}

async function rebuild(store: BatchStore, journaled: JournaledBatch, file: string, out: Output): Promise<boolean> {
  const rebuilt = await rebuildBatch(store, journaled);
  if (!rebuilt) return false;
  out.note(`journal: batch ${rebuilt.id} was gone from Redis — rebuilt from ${file}: ${journaled.originals.size} original${journaled.originals.size === 1 ? '' : 's'}, ${journaled.changed.size} agent${journaled.changed.size === 1 ? '' : 's'} already changed (never changed again)`);
  return true;
}

/** Before a submit: the manifest's batch, if Redis lost it and a journal (`file`, or .nova-fleet/) has it. */
export async function recoverLostBatch(store: BatchStore, digest: string, file: string | false | undefined, out: Output): Promise<void> {
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
    if (!(await mentions(candidate, digest).catch(() => false))) continue;
    for (const journaled of (await readJournal(candidate)).values()) {
      // Under this prefix only: the same manifest run against another prefix is another batch.
      if (journaled.meta.kind === 'rollout' && journaled.meta.digest === digest && journaled.prefix === store.prefix) await rebuild(store, journaled, candidate, out);
    }
  }
}

/** `rollback --journal FILE`: the batch to undo, rebuilt from FILE if Redis lost it. */
export async function recoverForRollback(store: BatchStore, batchId: string, file: string, out: Output): Promise<void> {
  const journaled = (await readJournal(file)).get(batchId);
  if (!journaled) throw new UsageError(`${file} holds no batch ${batchId}`, 'name the journal of that batch (.nova-fleet/BATCH.journal.ndjson, or the worker\'s --journal file)');
  await rebuild(store, journaled, file, out);
}
