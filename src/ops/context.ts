/** What commands that touch Redis or the API share: the resolved config, the store, the client. */
import type { WorkerPool } from '../worker/worker-pool.js';
import type { AuthMode } from '../api/client.js';
import { loadConfigFile, resolveConfig, type Config, type ConfigFlags } from '../config.js';
import { BatchStore } from '../store/batch-store.js';
import { openRedis, type RedisTarget } from '../store/connect.js';
import { atMost } from '../wait.js';

export interface RedisFlags {
  /** Why (SPEC §16): recorded with the action in the audit log. */
  reason?: string;
  prefix?: string;
  /** A config file other than ./nova-fleet.config.json. */
  config?: string;
  /**
   * The local journal of originals (journal.ts) of a command that works a batch: a file, or false
   * (`--no-journal`); default `.nova-fleet/BATCH.journal.ndjson` for run, apply and the `--run` commands.
   */
  journal?: string | false;
}

export interface ApiFlags {
  rate?: number;
  concurrency?: number;
  auth?: AuthMode;
  /** --keys FILE: one key per org. */
  keys?: string;
}

export function configFrom(flags: RedisFlags & ApiFlags): Config {
  const picked: ConfigFlags = {};
  if (flags.prefix !== undefined) picked.prefix = flags.prefix;
  if (flags.rate !== undefined) picked.rate = flags.rate;
  if (flags.concurrency !== undefined) picked.concurrency = flags.concurrency;
  if (flags.auth !== undefined) picked.auth = flags.auth;
  if (flags.keys !== undefined) picked.keys = flags.keys;
  return resolveConfig(picked, process.env, loadConfigFile(flags.config).values);
}

export interface StoreContext {
  /** Where this command's worker journals originals (RedisFlags.journal). */
  journal?: string | false;
  config: Config;
  store: BatchStore;
  target: RedisTarget;
  close(): void;
}

/** Notes of this process about its Redis, on stderr (said once per command). */
const stderrNote = (line: string) => void process.stderr.write(`${line}\n`);

/**
 * The store a command works with. A command that writes (the default) first checks the Redis: an
 * evicting one is refused (exit 3), one that keeps nothing on disk is named; `readOnly` commands
 * (status, batches, report, export, the dashboard) skip the check.
 */
export async function openStore(flags: RedisFlags & ApiFlags, options: { readOnly?: boolean } = {}): Promise<StoreContext> {
  const config = configFrom(flags);
  const { redis, target } = await openRedis({ url: config.redisUrl, ...(options.readOnly ? {} : { writes: { note: stderrNote } }) });
  return { config, store: new BatchStore(redis, config.prefix), target, close: () => redis.disconnect(), ...(flags.journal !== undefined ? { journal: flags.journal } : {}) };
}

/**
 * Closes a worker pool (`run`'s in-process one, a `worker`'s): in-flight requests get their grace
 * (`run`: 30 s, 1 s when Redis is not answering — their outcome could not be recorded anyway; `worker`:
 * --grace), and the close is not waited for past that plus `extraMs`: with Redis gone, BullMQ's close
 * queues behind commands that never come back, and the first Ctrl-C was ignored for ever (issue 25).
 * A close cut short leaves its jobs to BullMQ's stalled check; they are retried safely.
 */
export async function closePool(pool: WorkerPool, graceMs: number, extraMs: number): Promise<void> {
  await atMost(pool.close(graceMs), graceMs + extraMs);
}
