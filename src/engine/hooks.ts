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
import type { BatchMeta, BatchStore, Counts } from '../store/batch-store.js';

/** A verification running longer than this fails (and its claim lapses for a retry). */
export const VERIFY_TIMEOUT_MS = 10 * 60_000;

export type VerifyState = 'none' | 'running' | 'passed' | { failed: string };

export async function verifyState(store: BatchStore, batchId: string, wave: number): Promise<VerifyState> {
  const value = await store.redis.get(store.keys.verify(batchId, wave));
  if (value === null) return 'none';
  if (value === 'running' || value === 'passed') return value;
  return { failed: value.replace(/^failed: /, '') };
}

/** Claims the wave's verification and runs it in the background; the result lands in Redis. */
export async function startVerify(store: BatchStore, meta: BatchMeta, wave: number, onError: (error: Error) => void): Promise<boolean> {
  const key = store.keys.verify(meta.id, wave);
  if ((await store.redis.set(key, 'running', 'PX', VERIFY_TIMEOUT_MS + 60_000, 'NX')) !== 'OK') return false;
  const child = spawn(meta.verifyCmd!, {
    shell: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, NOVA_FLEET_BATCH: meta.id, NOVA_FLEET_WAVE: String(wave + 1) },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-300)));
  const timer = setTimeout(() => child.kill('SIGKILL'), VERIFY_TIMEOUT_MS);
  child.on('error', (error) => void store.redis.set(key, `failed: ${error.message}`).catch(onError));
  child.on('close', (code, signal) => {
    clearTimeout(timer);
    const result = code === 0 ? 'passed' : `failed: exit ${code ?? signal}${stderr.trim() ? ` (${stderr.trim().split('\n').at(-1)})` : ''}`;
    void store.redis.set(key, result).catch(onError);
  });
  return true;
}

export interface NotifyEvent {
  event: 'wave_done' | 'halted' | 'completed';
  batch: string;
  status: string;
  wave?: number;
  reason?: string;
  counts: Counts;
  at: string;
}

/** POSTs an event once (claimed in the batch's metadata); a failing hook never affects the batch. */
export async function notify(store: BatchStore, meta: BatchMeta, id: string, event: Omit<NotifyEvent, 'batch' | 'counts' | 'at' | 'status'>, onError: (error: Error) => void): Promise<void> {
  if (!meta.notifyUrl) return;
  if ((await store.redis.hsetnx(store.keys.meta(meta.id), `notified:${id}`, '1')) !== 1) return;
  const body: NotifyEvent = { ...event, batch: meta.id, status: (await store.getBatch(meta.id))?.status ?? meta.status, counts: await store.counts(meta.id), at: new Date().toISOString() };
  try {
    const response = await fetch(meta.notifyUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'nova-fleet' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
    if (!response.ok) onError(new Error(`notify ${meta.notifyUrl}: HTTP ${response.status}`));
  } catch (error) {
    onError(new Error(`notify ${meta.notifyUrl}: ${(error as Error).message}`));
  }
}
