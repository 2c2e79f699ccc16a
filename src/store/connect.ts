/**
 * Finding and opening Redis (SPEC §6): `REDIS_URL` if set; else 127.0.0.1:6379 if something answers
 * there; else a private `redis-server` from PATH, append-only, with its data under
 * `.nova-fleet/redis/` (kept running, so the next command finds it); else exit 3 with a hint.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { InfraError, UsageError } from '../errors.js';
import { ownsPort, startRedisServer, type StartedRedis } from './redis-server.js';
import { withScripts, type ScriptClient } from './scripts.js';
import { checkRedisDurability } from './redis-health.js';

export { freePort } from './redis-server.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface RedisTarget {
  url: string;
  source: 'env' | 'default' | 'private';
}

const HINT = 'start one with `docker compose up -d redis`, install the OS package (`apt-get install redis-server`), or set REDIS_URL';

/**
 * A Redis Cluster URL: `redis+cluster://[user:password@]host:port,host:port[,…]` (`rediss+cluster://`
 * for TLS). Any reachable node is enough; the client discovers the rest.
 */
export function parseClusterUrl(url: string): { nodes: Array<{ host: string; port: number }>; username?: string; password?: string; tls: boolean } | undefined {
  const match = /^(rediss?)\+cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)/.exec(url);
  if (!match) return undefined;
  const nodes = match[4]!.split(',').map((hostPort) => {
    const [host, port] = hostPort.split(':');
    if (!host || !port || !/^\d+$/.test(port)) throw new InfraError(`invalid cluster node "${hostPort}" in REDIS_URL`, 'use redis+cluster://host:port,host:port');
    return { host, port: Number(port) };
  });
  return {
    nodes,
    ...(match[2] ? { username: decodeURIComponent(match[2]) } : {}),
    ...(match[3] ? { password: decodeURIComponent(match[3]) } : {}),
    tls: match[1] === 'rediss',
  };
}

function createClient(url: string, options: RedisOptions): Redis | Cluster {
  const cluster = parseClusterUrl(url);
  if (!cluster) return new Redis(url, options);
  return new Cluster(cluster.nodes, {
    redisOptions: {
      ...options,
      ...(cluster.username ? { username: cluster.username } : {}),
      ...(cluster.password ? { password: cluster.password } : {}),
      ...(cluster.tls ? { tls: {} } : {}),
    },
    ...(options.lazyConnect ? { lazyConnect: true } : {}),
    ...(options.enableOfflineQueue === false ? { enableOfflineQueue: false } : {}),
    clusterRetryStrategy: options.retryStrategy === undefined ? (times) => Math.min(100 * times, 2000) : () => null,
    // A failover (a master down until its replica is promoted: cluster-node-timeout and an election) is
    // waited through by each command — 32 redirections 300 ms apart, ~10 s — rather than failed at once
    // ("Too many Cluster redirections" after ~1.6 s with ioredis' defaults).
    maxRedirections: 32,
    retryDelayOnFailover: 300,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 300,
  });
}

/** True if a Redis (or a Redis Cluster) answers PING at `url` within `timeoutMs`. */
export async function redisAnswers(url: string, timeoutMs = 500): Promise<boolean> {
  const probe = createClient(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

function onPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, binary);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

export interface DiscoverOptions {
  /** From REDIS_URL or a flag; skips discovery. */
  url?: string | undefined;
  /** Folder holding `.nova-fleet/redis/`. Default: the working directory. */
  home?: string;
  /** Probe 127.0.0.1:6379 (default true; tests of the private server turn it off). */
  probeDefault?: boolean;
}

export interface OpenOptions extends DiscoverOptions {
  /**
   * The command will write: an evicting Redis is refused (exit 3) and one that keeps nothing on disk
   * is said through `note` (redis-health.ts). Read-only commands (status, report) skip it.
   */
  writes?: { note: (line: string) => void };
}

/** What a Redis URL of the operator's may look like: a scheme, and a database number or none. */
const REDIS_URL_SHAPE = /^(rediss?|rediss?\+cluster):\/\//;

/**
 * The database a `redis://` URL names (0 when it names none); exit 2 for a URL that is not a Redis URL
 * or whose path is not a database number. ioredis would read `localhost:6379` (no scheme) and `/abc`
 * as database 0 without a word — and `prune` there deletes someone else's batches (SPEC §17).
 */
export function checkRedisUrl(url: string): number {
  const masked = maskRedisUrl(url);
  if (!REDIS_URL_SHAPE.test(url)) {
    throw new UsageError(`REDIS_URL "${masked}" is not a Redis URL: it must start with redis://, rediss://, redis+cluster:// or rediss+cluster://`, `for example redis://${masked.replace(/^[a-z0-9+.-]*:\/\/|^\/\//i, '') || '127.0.0.1:6379'}`);
  }
  if (parseClusterUrl(url)) return 0;
  let pathname: string;
  try {
    pathname = new URL(url).pathname;
  } catch {
    throw new UsageError(`REDIS_URL "${masked}" cannot be read as a URL`, 'use redis://[user:password@]host:port[/db]');
  }
  if (pathname === '' || pathname === '/') return 0;
  const db = /^\/(\d{1,5})$/.exec(pathname);
  if (!db) throw new UsageError(`REDIS_URL "${masked}" names "${pathname.slice(1)}" as its database: a database is a number`, 'use redis://host:port/N, N from 0 to the server\'s `databases` - 1');
  return Number(db[1]);
}

/** The URL with its password hidden, for messages. */
export function maskRedisUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, (_, auth: string) => `//${auth.includes(':') ? `${auth.slice(0, auth.indexOf(':'))}:****` : '****'}@`);
}

export async function discoverRedis(options: DiscoverOptions = {}): Promise<RedisTarget> {
  if (options.url) {
    checkRedisUrl(options.url);
    return { url: options.url, source: 'env' };
  }
  if ((options.probeDefault ?? true) && (await redisAnswers(DEFAULT_REDIS_URL))) return { url: DEFAULT_REDIS_URL, source: 'default' };
  const dir = path.join(options.home ?? process.cwd(), '.nova-fleet', 'redis');
  const portFile = path.join(dir, 'port');
  if (existsSync(portFile)) {
    // Ours only if the server there is the one our pid file names (the port may be another's since).
    const port = Number(readFileSync(portFile, 'utf8').trim());
    if (Number.isInteger(port) && port > 0 && port < 65536 && (await ownsPort(port, path.join(dir, 'redis.pid')))) return { url: `redis://127.0.0.1:${port}`, source: 'private' };
  }
  const binary = onPath('redis-server');
  if (!binary) throw new InfraError('no Redis found: nothing answers on 127.0.0.1:6379 and redis-server is not on PATH', HINT);
  mkdirSync(dir, { recursive: true });
  let started: StartedRedis;
  try {
    started = await startRedisServer({ binary, dir, args: ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''] });
  } catch (error) {
    throw new InfraError(`the private ${(error as Error).message}`, `see ${path.join(dir, 'redis.log')}`);
  }
  writeFileSync(portFile, String(started.port));
  return { url: `redis://127.0.0.1:${started.port}`, source: 'private' };
}

/**
 * A connection for nova-fleet. `blocking` connections (BullMQ workers) retry forever
 * (`maxRetriesPerRequest: null`, which BullMQ requires); command connections fail fast.
 */
export function connectRedis(url: string, options: { blocking?: boolean } = {}): ScriptClient {
  const redis = createClient(url, { maxRetriesPerRequest: options.blocking ? null : 3, enableReadyCheck: true });
  redis.on('error', () => {}); // reported by the commands that fail; ioredis reconnects on its own
  if (redis instanceof Redis) coalesceWrites(redis);
  return withScripts(redis);
}

/**
 * Commands written during one turn of the event loop go out in one write: the connection's socket is
 * corked at the first and uncorked once the turn's I/O callbacks have run (setImmediate). ioredis
 * writes each command on its own, a system call each (~6 per agent): a cold run of 1,500 agents made
 * ~20,000 writes, ~7,500 coalesced, and the main thread's time in them fell from ~430 to ~260 ms
 * (issue 30). ioredis' own auto-pipelining builds a pipeline object per turn: it cost more than it
 * saved. A connection's socket is hooked on every connect (a reconnect is a new socket); `end()`
 * flushes what is corked.
 */
function coalesceWrites(redis: Redis): void {
  const hooked = new WeakSet<object>();
  redis.on('connect', () => {
    const stream = (redis as unknown as { stream?: NodeJS.WritableStream & { cork(): void; uncork(): void } }).stream;
    if (!stream || hooked.has(stream)) return;
    hooked.add(stream);
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    let corked = false;
    const uncork = () => {
      corked = false;
      stream.uncork();
    };
    stream.write = ((...args: unknown[]) => {
      if (!corked) {
        corked = true;
        stream.cork();
        setImmediate(uncork);
      }
      return write(...args);
    }) as typeof stream.write;
  });
}

/** Discover, connect and check: the Redis a command works with, or exit 3. */
export async function openRedis(options: OpenOptions = {}): Promise<{ redis: ScriptClient; target: RedisTarget }> {
  const target = await discoverRedis(options);
  const redis = connectRedis(target.url);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no answer within 3 s')), 3000))),
    ]);
  } catch (error) {
    redis.disconnect();
    throw new InfraError(`Redis at ${maskRedisUrl(target.url)} is unreachable: ${(error as Error).message}`, HINT);
  } finally {
    clearTimeout(timer); // a pending timer would keep every command alive for 3 s
  }
  const db = target.source === 'env' ? checkRedisUrl(target.url) : 0;
  if (db > 0) {
    // ioredis's own SELECT on connect fails only as an 'error' event, and the connection stays on
    // database 0: selected again here, where a refusal can stop the command.
    try {
      await redis.select(db);
    } catch (error) {
      redis.disconnect();
      throw new UsageError(`Redis at ${maskRedisUrl(target.url)} has no database ${db}: ${(error as Error).message}`, 'name a database the server has (its `databases` setting, 16 by default: 0 to 15)');
    }
  }
  if (options.writes) {
    try {
      await checkRedisDurability(redis, maskRedisUrl(target.url), options.writes.note);
    } catch (error) {
      redis.disconnect();
      throw error;
    }
  }
  return { redis, target };
}

/**
 * SCAN for `pattern` on every node: a Cluster client does not scan across its masters by itself.
 * (One batch's keys share a hash tag, so they all sit on one node; the others just answer nothing.)
 */
export async function* scanKeys(redis: Redis | Cluster, pattern: string): AsyncGenerator<string[]> {
  const nodes: Redis[] = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }
}
