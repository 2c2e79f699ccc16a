/** What commands that touch Redis or the API share: the resolved config, the store, the client. */
import { NovaClient, type ResponseInfo } from '../api/client.js';
import { Metrics, serveMetrics } from '../metrics.js';
import type { AuthScheme } from '../api/types.js';
import { loadConfigFile, resolveConfig, type Config, type ConfigFlags } from '../config.js';
import { UsageError } from '../errors.js';
import { BatchStore } from '../store/batch-store.js';
import { openRedis, type RedisTarget } from '../store/connect.js';

export interface RedisFlags {
  prefix?: string;
  /** A config file other than ./nova-fleet.config.json. */
  config?: string;
}

export interface ApiFlags {
  rate?: number;
  concurrency?: number;
  auth?: AuthScheme;
}

export function configFrom(flags: RedisFlags & ApiFlags): Config {
  const picked: ConfigFlags = {};
  if (flags.prefix !== undefined) picked.prefix = flags.prefix;
  if (flags.rate !== undefined) picked.rate = flags.rate;
  if (flags.concurrency !== undefined) picked.concurrency = flags.concurrency;
  if (flags.auth !== undefined) picked.auth = flags.auth;
  return resolveConfig(picked, process.env, loadConfigFile(flags.config).values);
}

export interface StoreContext {
  config: Config;
  store: BatchStore;
  target: RedisTarget;
  close(): void;
}

export async function openStore(flags: RedisFlags & ApiFlags): Promise<StoreContext> {
  const config = configFrom(flags);
  const { redis, target } = await openRedis({ url: config.redisUrl });
  return { config, store: new BatchStore(redis, config.prefix), target, close: () => redis.disconnect() };
}

export function apiClient(config: Config, onResponse?: (info: ResponseInfo) => void): NovaClient {
  if (!config.apiKey) {
    throw new UsageError('NOVA_API_KEY is not set: workers need it to call the API', 'export NOVA_API_KEY=… (and NOVA_API_URL for another API)');
  }
  return new NovaClient({ baseUrl: config.apiUrl, apiKey: config.apiKey, auth: config.auth, timeoutMs: config.timeoutMs, maxSockets: config.concurrency, ...(onResponse ? { onResponse } : {}) });
}

/** `--metrics-port N`: Prometheus metrics on http://127.0.0.1:N/metrics (0 picks a free port). */
export async function startMetrics(port: number | undefined, note: (line: string) => void): Promise<{ metrics: Metrics; close: () => Promise<void> } | undefined> {
  if (port === undefined) return undefined;
  const metrics = new Metrics();
  const server = await serveMetrics(metrics, port);
  note(`metrics: http://127.0.0.1:${server.port}/metrics`);
  return { metrics, close: server.close };
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const done = (signal: NodeJS.Signals) => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve(signal);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
