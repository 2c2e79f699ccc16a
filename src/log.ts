/**
 * Logs (pino): JSON lines for log stacks when stdout is not a terminal (or `--log-format json`),
 * readable lines on a terminal. Every line about an agent carries `batch`, `org` and `agent`.
 * The API key is redacted by pino itself as a second line of defence: nothing should ever hand it to a
 * logger, and if something did, it would print `[redacted]`.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };
export type LogFormat = 'json' | 'pretty';
import { LOG_LEVELS } from './names.js';

export { LOG_LEVELS };
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where a key could appear if something passed a request's options or a config object to a logger. */
export const REDACT_PATHS = [
  'apiKey',
  '*.apiKey',
  'NOVA_API_KEY',
  '*.NOVA_API_KEY',
  'headers["x-api-key"]',
  'headers.authorization',
  '*.headers["x-api-key"]',
  '*.headers.authorization',
  'options.headers["x-api-key"]',
  'options.headers.authorization',
];

export interface LogOptions {
  /** Default: json when `destination` is not a TTY, pretty when it is. */
  format?: LogFormat;
  /** Default info. */
  level?: LogLevel;
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LogOptions = {}): Logger {
  const destination = options.destination ?? process.stdout;
  const format = options.format ?? ((destination as NodeJS.WriteStream).isTTY ? 'pretty' : 'json');
  const base = { level: options.level ?? 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'nova-fleet' } };
  if (format === 'json') return pino(base, destination as pino.DestinationStream);
  return pino(base, pretty({ destination, colorize: (destination as NodeJS.WriteStream).isTTY ?? false, ignore: 'pid,hostname,service', translateTime: 'SYS:HH:MM:ss.l', sync: true }));
}
