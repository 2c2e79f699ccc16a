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
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { jsonText } from '../store/snapshot-codec.js';
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
 * One file opened for appending (O_APPEND) for the journal's life, and one writer: the events of one
 * turn of the event loop go out together in one synchronous write once the turn's I/O is handled
 * (setImmediate), each resolved once its bytes are with the operating system. Lines of concurrent jobs
 * never interleave (one writer), and a job waits for one write, not for an open, a write and a close of
 * its own — appendFile per event cost ~0.2 ms of the main thread per event (issue 30: 3,000 events in a
 * cold run of 1,500 agents, ~0.7 s of CPU). Written synchronously, not on libuv's thread pool: a write
 * to the page cache takes microseconds, and handing it to a pool thread woke that thread and then the
 * event loop again for every group (~0.1 s of a cold run's main thread). A journal on a slow disk
 * (a network mount) would stall the event loop for its writes: keep NOVA_FLEET_JOURNAL_DIR local.
 * A journal moved or deleted while open is written to where it was opened (as any log file).
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

  #fd: number | undefined;
  #queue: Array<{ text: string; resolve: () => void; reject: (error: Error) => void }> = [];
  #scheduled = false;

  /** Resolves once the lines are handed to the operating system; a failure fails the job (named). */
  #append(text: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ text, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#drain());
      }
    });
  }

  /** The events of one turn of the event loop, written together by one system call. */
  #drain(): void {
    this.#scheduled = false;
    const group = this.#queue.splice(0);
    if (group.length === 0) return;
    try {
      this.#fd ??= openSync(this.path, 'a', 0o600);
      const bytes = Buffer.from(group.map((item) => item.text).join(''));
      // A short write (rare, on a regular file) goes on from where it stopped: the only writer.
      for (let at = 0; at < bytes.length; ) at += writeSync(this.#fd, bytes, at, bytes.length - at);
      for (const item of group) item.resolve();
    } catch (error) {
      // Opened again by the next event (a disk full now may have room then).
      this.#closeFile();
      const named = new Error(`journal ${this.path}: ${(error as Error).message}`);
      for (const item of group) item.reject(named);
    }
  }

  #closeFile(): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already unusable: nothing more to release
      }
    }
  }

  /** Writes what is queued and closes the file (the next event opens it again). */
  async close(): Promise<void> {
    this.#drain();
    this.#closeFile();
  }

  /** An agent's first before snapshot — appended before its PATCH can be sent. */
  before(meta: BatchMeta, key: string, before: Agent): Promise<void> {
    // The agent's text as its snapshot was packed from (snapshot-codec.ts), not serialised again.
    return this.#append(`${this.#head(meta)}${JSON.stringify({ t: 'before', v: 1, batch: meta.id, k: key }).slice(0, -1)},"before":${jsonText(before)}}\n`);
  }

  /** An agent the batch changed (applied, restored), with what it changed. */
  changed(meta: BatchMeta, key: string, status: AgentStatus, changed: string[], after: Agent): Promise<void> {
    return this.#append(`${this.#head(meta)}${JSON.stringify({ t: 'changed', v: 1, batch: meta.id, k: key, status, changed, after })}\n`);
  }
}
