/**
 * How a job's steps say "not now" or "not at all" to processAgentJob (processor.ts), which turns each
 * into a deferral (no attempt spent), a skip, or a failure's one-line reason.
 */
import { NovaApiError } from '../api/errors.js';

/** Not now (paused, halted, outside the window, the agent leased elsewhere): the job waits DEFER_MS. */
export class Deferred extends Error {}
/** The agent is leased by another batch: the job sleeps until that lease's release wakes it. */
export class LeaseWait extends Deferred {}
/** The org's key was refused repeatedly: its jobs sleep until `resume` wakes them. */
export class OrgBlocked extends Deferred {}
/** This worker is stopping: the job goes straight back to the queue, for this or another worker. */
export class Stopped extends Error {}
/** The batch no longer wants the agent (cancelled, past its deadline): `skipped`, with the reason. */
export class Skip extends Error {}
/** What no retry can mend (the batch's stored patch or file gone from Redis): `failed` at once. */
export class Unrecoverable extends Error {}

/** Why the agent failed, in one line: the server's words where it gave any. */
export function reason(error: unknown): string {
  if (error instanceof NovaApiError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

/**
 * A promise started now and awaited later, marked handled: a rejection (an abort, a Deferred) before
 * it is awaited must not be reported as unhandled. Awaiting it still throws.
 */
export function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}
