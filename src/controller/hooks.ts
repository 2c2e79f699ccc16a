/**
 * The hooks of a staged rollout (SPEC §9):
 * - `--verify-cmd CMD`: run after each wave with NOVA_FLEET_BATCH and NOVA_FLEET_WAVE in its
 *   environment; a non-zero exit halts the batch like an exhausted error budget. Run once per wave,
 *   by one worker (claimed in Redis with an expiry, so a dead worker's claim lapses), and only by
 *   workers that opted in with --run-verify: a command read from Redis must not run anywhere that
 *   did not ask for it.
 * - `--notify URL`: POST a JSON event on wave done, halt and completion; each event once.
 */
import { spawn } from 'node:child_process';
import type { BatchStore } from '../store/batch-store.js';
import type { BatchMeta, Counts } from '../batch/records.js';
import { atMost } from '../wait.js';

/**
 * A verify command's environment: the basics a shell needs, the batch and wave, and only the variables
 * the batch named with --verify-env — never the whole worker's environment (its API key, its Redis
 * password). Values come from the worker that runs it, not from Redis.
 */
const BASE_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'USER'];

export function verifyEnvironment(meta: BatchMeta, wave: number, from: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of [...BASE_ENV, ...(meta.verifyEnv ?? [])]) if (from[name] !== undefined) env[name] = from[name];
  return { ...env, NOVA_FLEET_BATCH: meta.id, NOVA_FLEET_WAVE: String(wave + 1) };
}

/** A verification running longer than this fails (and its claim lapses for a retry). */
export const VERIFY_TIMEOUT_MS = 10 * 60_000;

export type VerifyState = 'none' | 'running' | 'passed' | { failed: string };

export async function verifyState(store: BatchStore, batchId: string, wave: number): Promise<VerifyState> {
  const value = await store.verifyResult(batchId, wave);
  if (value === undefined) return 'none';
  if (value === 'running' || value === 'passed') return value;
  return { failed: value.replace(/^failed: /, '') };
}

/** Claims the wave's verification and runs it in the background; the result lands in Redis. */
export async function startVerify(store: BatchStore, meta: BatchMeta, wave: number, onError: (error: Error) => void): Promise<boolean> {
  if (!(await store.claimVerify(meta.id, wave, VERIFY_TIMEOUT_MS + 60_000))) return false;
  const record = (result: string) => void store.setVerifyResult(meta.id, wave, result).catch(onError);
  const child = spawn(meta.verifyCmd!, {
    shell: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: verifyEnvironment(meta, wave),
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-300)));
  const timer = setTimeout(() => child.kill('SIGKILL'), VERIFY_TIMEOUT_MS);
  child.on('error', (error) => record(`failed: ${error.message}`));
  child.on('close', (code, signal) => {
    clearTimeout(timer);
    const result = code === 0 ? 'passed' : `failed: exit ${code ?? signal}${stderr.trim() ? ` (${stderr.trim().split('\n').at(-1)})` : ''}`;
    record(result);
  });
  return true;
}

export interface NotifyEvent {
  /** `cancelled`: by an operator, or cut by its deadline (`reason` says which, and how many were skipped). */
  event: 'wave_done' | 'halted' | 'completed' | 'cancelled';
  batch: string;
  status: string;
  wave?: number;
  reason?: string;
  counts: Counts;
  at: string;
}

/** One delivery try may take this long; a hook that is slower is a failed try. */
export const NOTIFY_TIMEOUT_MS = 2000;
/** Tries per event, with a doubling pause from NOTIFY_RETRY_MS between them. */
export const NOTIFY_TRIES = 3;
const NOTIFY_RETRY_MS = 500;

/** A notify URL as it may be shown (errors, status, exports): scheme and host; path and query are often the secret. */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}/****`;
  } catch {
    return '****';
  }
}

/** Deliveries under way in this process (awaited by `flushNotifications` before it exits). */
const pending = new Set<Promise<void>>();

/**
 * Queues an event for the batch's --notify URL, once per event id across every worker (claimed in the
 * batch's metadata). The claim and the event's body are written now; the POST happens in the
 * background — never inside the controller step, which a slow hook used to hold for 5 s per event —
 * with a short timeout, no redirects followed (a 307 re-POSTed the event to an internal address), and a
 * few tries. A failing hook never affects the batch; its errors name the URL masked.
 */
export async function notify(store: BatchStore, meta: BatchMeta, id: string, event: Omit<NotifyEvent, 'batch' | 'counts' | 'at' | 'status'>, onError: (error: Error) => void): Promise<void> {
  if (!meta.notifyUrl) return;
  if (!(await store.claim(meta.id, `notified:${id}`))) return;
  const body: NotifyEvent = { ...event, batch: meta.id, status: (await store.getBatch(meta.id))?.status ?? meta.status, counts: await store.counts(meta.id), at: new Date().toISOString() };
  const delivery = deliver(meta.notifyUrl, body, onError).finally(() => pending.delete(delivery));
  pending.add(delivery);
}

/**
 * POSTs one event to a hook: a short timeout per try, no redirects followed, a few tries; a failure is
 * said through `onError` with the URL masked, never thrown (a failing hook never affects the batch).
 */
export async function deliver(url: string, body: { event: string }, onError: (error: Error) => void): Promise<void> {
  let last = '';
  for (let attempt = 1; attempt <= NOTIFY_TRIES; attempt++) {
    try {
      const response = await fetch(url, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json', 'user-agent': 'nova-fleet' }, body: JSON.stringify(body), signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS) });
      await response.body?.cancel();
      if (response.ok) return;
      last = response.status >= 300 && response.status < 400 ? `HTTP ${response.status} (redirects are not followed)` : `HTTP ${response.status}`;
      if (response.status >= 300 && response.status < 500 && response.status !== 408 && response.status !== 429) break;
    } catch (error) {
      last = (error as Error).name === 'TimeoutError' ? `no answer within ${NOTIFY_TIMEOUT_MS} ms` : (error as Error).message;
    }
    if (attempt < NOTIFY_TRIES) await new Promise((resolve) => setTimeout(resolve, NOTIFY_RETRY_MS * 2 ** (attempt - 1)));
  }
  onError(new Error(`notify ${maskUrl(url)} (${body.event}): ${last}`));
}

/** Waits (at most `timeoutMs`) for this process's queued notifications: before it exits. */
export async function flushNotifications(timeoutMs = NOTIFY_TRIES * (NOTIFY_TIMEOUT_MS + 2 * NOTIFY_RETRY_MS)): Promise<void> {
  if (pending.size === 0) return;
  await atMost(Promise.allSettled([...pending]), timeoutMs);
}
