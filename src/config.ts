/**
 * Flags + environment + config file → one typed Config. Every default lives here, next to its
 * declaration. Precedence: flags > environment > config file > defaults.
 *
 * The config file is `nova-fleet.config.json` in the working directory, or `--config FILE`. It holds
 * defaults an operator wants on every command (API URL, rate, concurrency, prefix…), never the API key:
 * secrets belong in the environment (or a secret store feeding it), not in a file next to manifests.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { AuthScheme } from './api/types.js';
import { UsageError } from './errors.js';

export const CONFIG_FILE = 'nova-fleet.config.json';

const ConfigFileSchema = z.strictObject({
  apiUrl: z.url().optional(),
  redisUrl: z.string().min(1).optional(),
  prefix: z.string().regex(/^[A-Za-z0-9._:-]+$/).optional(),
  rate: z.number().positive().optional(),
  concurrency: z.number().int().min(1).max(1000).optional(),
  timeoutMs: z.number().int().positive().optional(),
  auth: z.enum(['x-api-key', 'bearer']).optional(),
});
export type ConfigFile = z.infer<typeof ConfigFileSchema>;

/** Reads and checks the config file: `explicit` (which must exist), else ./nova-fleet.config.json if present. */
export function loadConfigFile(explicit?: string, cwd: string = process.cwd()): { file: string | undefined; values: ConfigFile } {
  const file = explicit ?? (existsSync(path.join(cwd, CONFIG_FILE)) ? path.join(cwd, CONFIG_FILE) : undefined);
  if (!file) return { file: undefined, values: {} };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read config file ${file}: ${(error as Error).message}`);
  }
  if (raw && typeof raw === 'object' && ('apiKey' in raw || 'NOVA_API_KEY' in raw)) {
    throw new UsageError(`${file}: apiKey: the API key is not read from a file`, 'set NOVA_API_KEY in the environment instead');
  }
  const parsed = ConfigFileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${file}: ${i.path.join('.') || '(file)'}: ${i.code === 'unrecognized_keys' ? `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}` : i.message}`);
    throw new UsageError(`invalid config file:\n${problems.join('\n')}`, `allowed keys: ${Object.keys(ConfigFileSchema.shape).join(', ')}`);
  }
  return { file, values: parsed.data };
}

export const DEFAULTS = {
  /** The vendor's documented base URL. */
  apiUrl: 'https://v2-nova-api.prod.czmx.in/api',
  /** Redis prefix: every key nova-fleet writes starts with it. */
  prefix: 'nova-fleet',
  /** API requests per second shared by every worker of a batch (GET and PATCH both count). */
  rate: 10,
  /** In-flight requests per worker process. */
  concurrency: 8,
  /** Whole-request timeout. */
  timeoutMs: 30_000,
  /** How the API key is sent. */
  auth: 'x-api-key' as AuthScheme,
} as const;

export interface Config {
  apiUrl: string;
  /** Required against a real API; never written to Redis, logs or reports. */
  apiKey: string | undefined;
  /** Undefined: discover (127.0.0.1:6379 if it answers, else a private redis-server). */
  redisUrl: string | undefined;
  prefix: string;
  rate: number;
  concurrency: number;
  timeoutMs: number;
  auth: AuthScheme;
}

export interface ConfigFlags {
  apiUrl?: string;
  prefix?: string;
  rate?: number;
  concurrency?: number;
  timeoutMs?: number;
  auth?: AuthScheme;
}

const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value);

export function resolveConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env, file: ConfigFile = {}): Config {
  return {
    apiUrl: flags.apiUrl ?? nonEmpty(env.NOVA_API_URL) ?? file.apiUrl ?? DEFAULTS.apiUrl,
    apiKey: nonEmpty(env.NOVA_API_KEY),
    redisUrl: nonEmpty(env.REDIS_URL) ?? file.redisUrl,
    prefix: flags.prefix ?? nonEmpty(env.NOVA_FLEET_PREFIX) ?? file.prefix ?? DEFAULTS.prefix,
    rate: flags.rate ?? file.rate ?? DEFAULTS.rate,
    concurrency: flags.concurrency ?? file.concurrency ?? DEFAULTS.concurrency,
    timeoutMs: flags.timeoutMs ?? file.timeoutMs ?? DEFAULTS.timeoutMs,
    auth: flags.auth ?? file.auth ?? DEFAULTS.auth,
  };
}

/** Mask a secret so an operator can tell which key is set without it being printed. */
export function maskSecret(secret: string | undefined): string | undefined {
  if (secret === undefined) return undefined;
  // Only long keys show their last four characters; a short key shown in part is half disclosed.
  return secret.length >= 16 ? `****${secret.slice(-4)}` : '****';
}

/** Mask the password part of a redis:// URL. */
export function maskUrlPassword(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '****';
    return parsed.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':****@');
  }
}

/** The configuration as printed by `nova-fleet config`: secrets masked. */
export function printableConfig(config: Config): Record<string, unknown> {
  return { ...config, apiKey: maskSecret(config.apiKey) ?? '(not set)', redisUrl: maskUrlPassword(config.redisUrl) ?? '(discover)' };
}
