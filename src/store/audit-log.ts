/**
 * Who did what (SPEC §16): every operator action — its actor, the batch, the reason given — appended to
 * one Redis stream under the prefix, capped (the oldest entries go first), read back newest first. A part
 * of the store over its connection (composed, not another layer of the class).
 */
import type { ScriptClient } from './scripts.js';
import { BATCH_ID, QUEUE_NAME, type Keys } from './keys.js';
import { EVENTS_MAX_LEN } from './coordination.js';
import { printable } from '../printable.js';

/** Entries kept: enough for months of operators' actions; the stream trims the oldest beyond it. */
const MAX_ENTRIES = 100_000;

export interface AuditEntry {
  /** When (Redis clock, ms). */
  at: number;
  actor: string;
  action: string;
  batch?: string;
  reason?: string;
  detail?: string;
}

const FIELD_MAX = 500;

export class AuditLog {
  constructor(
    private readonly redis: ScriptClient,
    private readonly keys: Keys,
  ) {}

  async append(entry: Omit<AuditEntry, 'at'>): Promise<void> {
    const fields: string[] = ['actor', entry.actor.slice(0, FIELD_MAX), 'action', entry.action.slice(0, 50)];
    if (entry.batch) fields.push('batch', entry.batch);
    if (entry.reason) fields.push('reason', entry.reason.slice(0, FIELD_MAX));
    if (entry.detail) fields.push('detail', entry.detail.slice(0, FIELD_MAX));
    // The entry's id is the Redis server's time: the log's clock is Redis's, as every other step's.
    await this.redis.xadd(this.keys.audit(), 'MAXLEN', '~', String(MAX_ENTRIES), '*', ...fields);
    // And in the batch's own event stream (BullMQ's, where its QueueEvents listeners read), as an
    // `action` event — only while the stream exists (NOMKSTREAM): a pruned batch's is not made again.
    if (entry.batch && BATCH_ID.test(entry.batch)) {
      await this.redis.xadd(`${this.keys.queuePrefix(entry.batch)}:${QUEUE_NAME}:events`, 'NOMKSTREAM', 'MAXLEN', '~', String(EVENTS_MAX_LEN), '*', 'event', 'action', ...fields);
    }
  }

  /** Entries newest first: since `since` (ms), of `batch` only if given, at most `limit`, looking at no more than `scan`. */
  async read(options: { since?: number; batch?: string; limit?: number; scan?: number } = {}): Promise<AuditEntry[]> {
    const limit = options.limit ?? 1000;
    const out: AuditEntry[] = [];
    let end = '+';
    for (let looked = 0; looked < (options.scan ?? Infinity); looked += 500) {
      const page = await this.redis.xrevrange(this.keys.audit(), end, options.since !== undefined ? String(options.since) : '-', 'COUNT', 500);
      for (const [id, flat] of page) {
        const fields: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
        if (options.batch !== undefined && fields.batch !== options.batch) continue;
        // Read back as untrusted (anyone who can write to Redis can write here): printable, bounded.
        const shown = (text: string | undefined) => (text ? printable(text.slice(0, FIELD_MAX)) : undefined);
        const [actor, action, batch, reason, detail] = [shown(fields.actor), shown(fields.action), shown(fields.batch), shown(fields.reason), shown(fields.detail)];
        out.push({ at: Number(id.split('-')[0]), actor: actor ?? '?', action: action ?? '?', ...(batch ? { batch } : {}), ...(reason ? { reason } : {}), ...(detail ? { detail } : {}) });
        if (out.length >= limit) return out;
      }
      if (page.length < 500) return out;
      // The next page ends just before the oldest entry read (exclusive range, Redis ≥ 6.2).
      end = `(${page.at(-1)![0]}`;
    }
    return out;
  }
}
