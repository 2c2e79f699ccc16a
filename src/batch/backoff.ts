/**
 * Delay before a retryable attempt is tried again (SPEC §5): exponential from `backoffMs`, capped at
 * `backoffCapMs`, with "equal jitter" (half fixed, half random, so retries of a fleet spread out), and
 * never shorter than the server's Retry-After — which is honoured even above the cap: the server
 * said when to come back.
 */
import { NovaApiError } from '../api/errors.js';
import type { BatchOptions } from './records.js';

export function backoffDelay(attemptsMade: number, error: unknown, options: BatchOptions, random: () => number = Math.random): number {
  const exponential = Math.min(options.backoffCapMs, options.backoffMs * 2 ** Math.max(0, attemptsMade - 1));
  const jittered = exponential / 2 + (random() * exponential) / 2;
  const retryAfter = error instanceof NovaApiError ? (error.retryAfterMs ?? 0) : 0;
  return Math.round(Math.max(jittered, retryAfter));
}
