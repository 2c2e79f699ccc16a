/**
 * API keys (SPEC §10): the real API's keys belong to one org, so a batch across orgs needs a key per
 * org. `--keys FILE` (or NOVA_API_KEYS_FILE) holds `org_id=key` lines; NOVA_API_KEY is the key of every
 * org the file does not name. Keys live only in this process's memory: never in Redis, logs, reports,
 * exports, errors or notifications. A long-running worker re-reads the file when it changes (at most
 * once a second), so fixing a key and `resume` is enough.
 */
import { createHmac } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';

export interface Credentials {
  /** The key for this org (its own, else the fallback), or undefined if it has none. */
  keyFor(orgId: string): string | undefined;
  /** Every key held now (what redaction looks for). */
  all(): readonly string[];
  /** Bumped when the keys change (a re-read file): caches built from `all()` rebuild. */
  readonly version: number;
}

/**
 * The name of a key's request schedule in Redis: an HMAC of the key, so that every process using the
 * key finds the same schedule and nothing in Redis lets anyone recover or test the key cheaply.
 */
export function keyId(key: string): string {
  return createHmac('sha256', 'nova-fleet key schedule v1').update(key).digest('hex').slice(0, 32);
}

const ORG_ID = /^[^\s=#]+$/;
const KEY = /^[^\s]+$/;

/** `org_id=key` lines, `#` comments and blank lines; every mistake named by its line (no key shown). */
export function parseKeysFile(text: string, file: string): Map<string, string> {
  const keys = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = `${file}:${i + 1}`;
    const eq = line.indexOf('=');
    if (eq < 0) throw new UsageError(`${at}: expected org_id=key`, 'one org per line: ORG_ID=KEY (# starts a comment)');
    const org = line.slice(0, eq).trim();
    const key = line.slice(eq + 1).trim();
    if (!ORG_ID.test(org)) throw new UsageError(`${at}: the org id is empty or holds spaces, "=" or "#"`);
    if (!KEY.test(key)) throw new UsageError(`${at}: the key of org ${org} is empty or holds spaces`);
    if (keys.has(org)) throw new UsageError(`${at}: org ${org} is listed twice`);
    keys.set(org, key);
  });
  return keys;
}

export interface KeyRingOptions {
  /** The keys file; undefined: the fallback key is every org's. */
  file?: string | undefined;
  /** NOVA_API_KEY: the key of every org the file does not name. */
  fallback?: string | undefined;
  /** Told once if the file can be read by group or others (like ssh). */
  warn?: (message: string) => void;
}

export class KeyRing implements Credentials {
  version = 0;
  readonly #file: string | undefined;
  readonly #fallback: string | undefined;
  #keys = new Map<string, string>();
  #mtimeMs = -1;
  #checkedAt = 0;

  constructor(options: KeyRingOptions) {
    this.#file = options.file;
    this.#fallback = options.fallback;
    if (this.#file !== undefined) {
      let stat;
      try {
        stat = statSync(this.#file);
      } catch (error) {
        throw new UsageError(`cannot read the keys file ${this.#file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 'give --keys (or NOVA_API_KEYS_FILE) a file of org_id=key lines');
      }
      if (!stat.isFile()) throw new UsageError(`the keys file ${this.#file} is not a regular file`);
      if ((stat.mode & 0o077) !== 0) options.warn?.(`warning: the keys file ${this.#file} can be read by others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`);
      this.#load(stat.mtimeMs);
    }
  }

  keyFor(orgId: string): string | undefined {
    this.#refresh();
    return this.#keys.get(orgId) ?? this.#fallback;
  }

  all(): readonly string[] {
    return [...new Set([...this.#keys.values(), ...(this.#fallback ? [this.#fallback] : [])])];
  }

  /** Whether this org's key comes from the keys file (else from the fallback, NOVA_API_KEY). */
  fromFile(orgId: string): boolean {
    this.#refresh();
    return this.#keys.has(orgId);
  }

  /** Orgs of `orgIds` with no key at all. */
  missing(orgIds: Iterable<string>): string[] {
    return [...new Set(orgIds)].filter((org) => this.keyFor(org) === undefined);
  }

  #load(mtimeMs: number): void {
    this.#keys = parseKeysFile(readFileSync(this.#file!, 'utf8'), this.#file!);
    this.#mtimeMs = mtimeMs;
    this.version++;
  }

  /** A changed file is read again; one that became unreadable or invalid keeps the keys read before. */
  #refresh(): void {
    if (this.#file === undefined || Date.now() - this.#checkedAt < 1000) return;
    this.#checkedAt = Date.now();
    try {
      const { mtimeMs } = statSync(this.#file);
      if (mtimeMs !== this.#mtimeMs) this.#load(mtimeMs);
    } catch {
      // Half-written or removed: the keys already held stay in use until a good file comes back.
    }
  }
}
