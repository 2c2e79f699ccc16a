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
import { createRequire } from 'node:module';
import type * as Zod from 'zod';
import type { AuthMode } from './api/client.js';
import { UsageError } from './errors.js';
import { requireRegularFileSync } from './user-files.js';

import { CONFIG_FILE } from './names.js';
import { MAX_RATE } from './batch/records.js';

export { CONFIG_FILE };

/**
 * The config file's schema. zod is loaded only when a config file is there to check: every command
 * resolves its configuration, and most never read a file (zod alone costs ~140 ms of start-up).
 */
function configFileSchema() {
  const { z } = createRequire(import.meta.url)('zod') as typeof Zod;
  return z.strictObject({
    apiUrl: z.url().optional(),
    redisUrl: z.string().min(1).optional(),
    prefix: z.string().regex(/^[A-Za-z0-9._:-]+$/).optional(),
    rate: z.number().positive().max(MAX_RATE).optional(),
    concurrency: z.number().int().min(1).max(1000).optional(),
    timeoutMs: z.number().int().positive().optional(),
    auth: z.enum(['auto', 'x-api-key', 'bearer']).optional(),
    keysFile: z.string().min(1).optional(),
  });
}
export type ConfigFile = Zod.infer<ReturnType<typeof configFileSchema>>;

/** Reads and checks the config file: `explicit` (which must exist), else ./nova-fleet.config.json if present. */
export function loadConfigFile(explicit?: string, cwd: string = process.cwd()): { file: string | undefined; values: ConfigFile } {
  const file = explicit ?? (existsSync(path.join(cwd, CONFIG_FILE)) ? path.join(cwd, CONFIG_FILE) : undefined);
  if (!file) return { file: undefined, values: {} };
  requireRegularFileSync(file, 'config file', 1024 * 1024);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read config file ${file}: ${(error as Error).message}`);
  }
  if (raw && typeof raw === 'object' && ('apiKey' in raw || 'NOVA_API_KEY' in raw)) {
    throw new UsageError(`${file}: apiKey: the API key is not read from a file`, 'set NOVA_API_KEY in the environment instead');
  }
  const ConfigFileSchema = configFileSchema();
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
  /** How the API key is sent: X-API-Key, and Bearer on a 401 (SPEC §10). */
  auth: 'auto' as AuthMode,
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
  auth: AuthMode;
  /** `org_id=key` lines (--keys, NOVA_API_KEYS_FILE): one key per org; `apiKey` for the others. */
  keysFile: string | undefined;
}

export interface ConfigFlags {
  apiUrl?: string;
  prefix?: string;
  rate?: number;
  concurrency?: number;
  timeoutMs?: number;
  auth?: AuthMode;
  keys?: string;
}

const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value);

/** The Redis prefix: part of every key name, so no glob, hash-tag or space characters (SPEC §7). */
export const PREFIX = /^[A-Za-z0-9._:-]{1,100}$/;

function checkPrefix(prefix: string, from: string): string {
  if (!PREFIX.test(prefix)) throw new UsageError(`invalid Redis prefix "${prefix.slice(0, 100)}" (from ${from})`, 'use up to 100 letters, digits and . _ : - (the default is nova-fleet)');
  return prefix;
}

export function resolveConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env, file: ConfigFile = {}): Config {
  const prefix =
    flags.prefix !== undefined
      ? checkPrefix(flags.prefix, '--prefix')
      : nonEmpty(env.NOVA_FLEET_PREFIX) !== undefined
        ? checkPrefix(env.NOVA_FLEET_PREFIX!, 'NOVA_FLEET_PREFIX')
        : (file.prefix ?? DEFAULTS.prefix);
  return {
    apiUrl: flags.apiUrl ?? nonEmpty(env.NOVA_API_URL) ?? file.apiUrl ?? DEFAULTS.apiUrl,
    apiKey: nonEmpty(env.NOVA_API_KEY),
    redisUrl: nonEmpty(env.REDIS_URL) ?? file.redisUrl,
    prefix,
    rate: flags.rate ?? file.rate ?? DEFAULTS.rate,
    concurrency: flags.concurrency ?? file.concurrency ?? DEFAULTS.concurrency,
    timeoutMs: flags.timeoutMs ?? file.timeoutMs ?? DEFAULTS.timeoutMs,
    auth: flags.auth ?? file.auth ?? DEFAULTS.auth,
    keysFile: flags.keys ?? nonEmpty(env.NOVA_API_KEYS_FILE) ?? file.keysFile,
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
  // NOVA_API_URL may carry credentials too (https://user:secret@gateway/api): masked like REDIS_URL.
  return { ...config, apiUrl: maskUrlPassword(config.apiUrl)!, apiKey: maskSecret(config.apiKey) ?? '(not set)', redisUrl: maskUrlPassword(config.redisUrl) ?? '(discover)', keysFile: config.keysFile ?? '(none: NOVA_API_KEY for every org)' };
}
