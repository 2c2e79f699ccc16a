/**
 * Environment + flags → one typed Config. Every default lives here, next to its declaration.
 * Precedence: flags > environment > defaults (a config file joins between environment and defaults
 * with the "Operating it" issue).
 */
import type { AuthScheme } from './api/types.js';

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

export function resolveConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env): Config {
  return {
    apiUrl: flags.apiUrl ?? nonEmpty(env.NOVA_API_URL) ?? DEFAULTS.apiUrl,
    apiKey: nonEmpty(env.NOVA_API_KEY),
    redisUrl: nonEmpty(env.REDIS_URL),
    prefix: flags.prefix ?? nonEmpty(env.NOVA_FLEET_PREFIX) ?? DEFAULTS.prefix,
    rate: flags.rate ?? DEFAULTS.rate,
    concurrency: flags.concurrency ?? DEFAULTS.concurrency,
    timeoutMs: flags.timeoutMs ?? DEFAULTS.timeoutMs,
    auth: flags.auth ?? DEFAULTS.auth,
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
