/**
 * A Redis running out of memory (issue 25). With `maxmemory` and `noeviction` (the only policy
 * nova-fleet accepts), Redis refuses every write once full: BullMQ cannot move a job, nova-fleet cannot
 * record an outcome. So a batch is halted `redis_full` *before* that point — while a little room is
 * left for the halt itself and the jobs in flight — and a write refused anyway halts it too, the halt
 * written by a script allowed to write when Redis is out of memory. The figures say what the batch needs.
 */
import { Cluster, type Redis } from 'ioredis';
import { infoField } from './redis-health.js';

/**
 * What one agent costs in Redis while its batch runs, when nothing better is known: measured here
 * (Redis 7, a 2.5 KB prompt) at ~1.3 KB per pending agent (its BullMQ job and status) and ~4.5 KB per
 * finished one (before and after snapshots, compressed). Only for the estimate before a submit.
 */
export const AGENT_BYTES_ESTIMATE = 4608;

/** A write refused because Redis is at its maxmemory (noeviction): `OOM command not allowed …`. */
export function isRedisFull(error: unknown): boolean {
  // A MULTI whose queued write was refused fails as EXECABORT, the refusal among its previous errors.
  const previous = (error as { previousErrors?: unknown[] })?.previousErrors;
  return /^OOM\b|OOM command not allowed/.test((error as Error)?.message ?? '') || (Array.isArray(previous) && previous.some(isRedisFull));
}

export interface MemoryRoom {
  used: number;
  /** `maxmemory`; 0 = no limit. */
  max: number;
}

/** Bytes left before Redis refuses writes; Infinity without a limit. Pure. */
export function bytesLeft(room: MemoryRoom): number {
  return room.max > 0 ? Math.max(0, room.max - room.used) : Number.POSITIVE_INFINITY;
}

/**
 * Room a running batch keeps free: its halt is written and the jobs already in flight finish inside
 * it. 2% of maxmemory, at least 256 KiB (a few hundred agents' outcomes). Pure.
 */
export function headroom(room: MemoryRoom): number {
  return Math.max(256 * 1024, Math.round(room.max * 0.02));
}

/** The fullest master's memory (a Cluster's keys of one batch live on one master, but which is not asked). */
export async function memoryRoom(redis: Redis | Cluster): Promise<MemoryRoom | undefined> {
  const nodes: Redis[] = redis instanceof Cluster ? redis.nodes('master') : [redis];
  let fullest: MemoryRoom | undefined;
  for (const node of nodes) {
    const info = String(await node.info('memory'));
    const used = Number(infoField(info, 'used_memory'));
    const max = Number(infoField(info, 'maxmemory') ?? 0);
    if (!Number.isFinite(used) || !Number.isFinite(max)) continue;
    const room = { used, max };
    if (!fullest || bytesLeft(room) < bytesLeft(fullest)) fullest = room;
  }
  return fullest;
}

/** 1536 → "1.5 KiB". Pure. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** What `agents` more agents need, at `perAgent` bytes, against what Redis has left. Pure. */
export function describeNeed(agents: number, perAgent: number, room: MemoryRoom): string {
  const need = agents * perAgent;
  const left = bytesLeft(room);
  return `${agents} agent${agents === 1 ? '' : 's'} × ~${formatBytes(perAgent)} = ~${formatBytes(need)} needed; Redis has ${Number.isFinite(left) ? formatBytes(left) : 'no limit'} left of its maxmemory ${formatBytes(room.max)} (${formatBytes(room.used)} used)`;
}
