/**
 * Small constants that the command line needs when it is built, kept apart from the modules that use
 * them so that `nova-fleet --help` loads none of those (pino, zod, ioredis…).
 */

/** An environment variable's name (for --verify-env). */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Log levels, as pino names them. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The config file read from the working directory when present. */
export const CONFIG_FILE = 'nova-fleet.config.json';
