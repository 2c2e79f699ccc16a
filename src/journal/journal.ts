/**
 * The local journal of originals (issue 25): a second home for every before snapshot, outside Redis.
 * The process that takes an agent's before snapshot appends it here before the agent's PATCH is sent,
 * and appends the agent's change once it is recorded. If Redis loses the batch (restarted without its
 * data, flushed), the journal still holds the originals: a re-run of the same manifest rebuilds the
 * batch from it (no agent changed twice, `$replace` applied once) and `rollback --journal FILE` restores
 * the agents. NDJSON, one line per event, appended: a crash leaves at most a torn last line.
 *
 * Written to the operating system before the PATCH (not fsynced: it survives the process and Redis, not
 * a power cut of this machine — that would cost a disk flush per agent).
 */
import { mkdirSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import type { Agent } from '../api/types.js';
import type { AgentStatus } from '../batch/lifecycle.js';
import type { BatchMeta } from '../batch/records.js';

/** Where `run`, `apply` and the `--run` commands keep their journals: NOVA_FLEET_JOURNAL_DIR, else ./.nova-fleet. */
export function journalDir(): string {
  return process.env.NOVA_FLEET_JOURNAL_DIR || '.nova-fleet';
}

export function defaultJournalPath(batchId: string, dir = journalDir()): string {
  return path.join(dir, `${batchId}.journal.ndjson`);
}

/** One line of a journal. */
export type JournalLine =
  | { t: 'batch'; v: 1; prefix: string; meta: Pick<BatchMeta, 'id' | 'kind' | 'manifest' | 'digest' | 'createdAt' | 'options'> & { rollbackOf?: string } }
  | { t: 'before'; v: 1; batch: string; k: string; before: Agent }
  | { t: 'changed'; v: 1; batch: string; k: string; status: AgentStatus; changed: string[]; after: Agent };

/**
 * Appends with one `appendFile` per event (O_APPEND, one write each: lines of concurrent jobs never
 * interleave), so a journal holds no open file between events and needs no closing.
 */
export class Journal {
  readonly path: string;
  /** The Redis key prefix of the batches journaled: a batch is rebuilt under its own prefix only. */
  readonly prefix: string;
  readonly #headed = new Set<string>();

  constructor(file: string, prefix: string) {
    this.path = file;
    this.prefix = prefix;
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
  }

  /** The batch's header line, once per batch and process (a reader takes the first it finds). */
  #head(meta: BatchMeta): string {
    if (this.#headed.has(meta.id)) return '';
    this.#headed.add(meta.id);
    const { id, kind, manifest, digest, createdAt, options, rollbackOf } = meta;
    return `${JSON.stringify({ t: 'batch', v: 1, prefix: this.prefix, meta: { id, kind, manifest, digest, createdAt, options, ...(rollbackOf ? { rollbackOf } : {}) } })}\n`;
  }

  /** Resolves once the lines are handed to the operating system; a failure fails the job (named). */
  async #append(text: string): Promise<void> {
    try {
      await appendFile(this.path, text, { mode: 0o600 });
    } catch (error) {
      throw new Error(`journal ${this.path}: ${(error as Error).message}`);
    }
  }

  /** An agent's first before snapshot — appended before its PATCH can be sent. */
  before(meta: BatchMeta, key: string, before: Agent): Promise<void> {
    return this.#append(`${this.#head(meta)}${JSON.stringify({ t: 'before', v: 1, batch: meta.id, k: key, before })}\n`);
  }

  /** An agent the batch changed (applied, restored), with what it changed. */
  changed(meta: BatchMeta, key: string, status: AgentStatus, changed: string[], after: Agent): Promise<void> {
    return this.#append(`${this.#head(meta)}${JSON.stringify({ t: 'changed', v: 1, batch: meta.id, k: key, status, changed, after })}\n`);
  }
}
