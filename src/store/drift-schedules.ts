/**
 * Scheduled drift checks (SPEC §16): one BullMQ job scheduler per batch on a queue of their own, so that
 * whichever worker is free runs the check when it falls due — BullMQ makes each occurrence one job,
 * taken by one worker, however many run. A part of the store over its connection (as audit-log.ts).
 * What a scheduler carries is read back as untrusted (another version or a hand may have written it).
 */
import { Queue } from 'bullmq';
import * as z from 'zod';
import type { ScriptClient } from './scripts.js';
import { MAX_RATE } from '../batch/records.js';
import { BATCH_ID, DRIFT_QUEUE_NAME, type Keys } from './keys.js';

/** What one check needs: the batch, where to say it drifted, the pace of its reads. */
export const DriftCheckSchema = z
  .object({
    batch: z.string().regex(BATCH_ID),
    notify: z
      .string()
      .max(2000)
      .regex(/^https?:\/\//)
      .optional(),
    rate: z.number().positive().max(MAX_RATE).optional(),
  })
  .strict();
export type DriftCheck = z.infer<typeof DriftCheckSchema>;

export interface DriftSchedule {
  batch: string;
  everyMs: number;
  /** When the next check falls due (ms), if BullMQ knows. */
  next?: number;
}

const schedulerId = (batchId: string): string => `drift-${batchId}`;

export class DriftSchedules {
  constructor(
    private readonly redis: ScriptClient,
    private readonly keys: Keys,
  ) {}

  /** For a BullMQ Worker on its own connection. */
  get queuePrefix(): string {
    return this.keys.driftQueuePrefix();
  }

  /** BullMQ's set of the queue's job schedulers (by id). */
  get #schedulers(): string {
    return `${this.queuePrefix}:${DRIFT_QUEUE_NAME}:repeat`;
  }

  async #withQueue<T>(fn: (queue: Queue<DriftCheck>) => Promise<T>): Promise<T> {
    const queue = new Queue<DriftCheck>(DRIFT_QUEUE_NAME, { connection: this.redis, prefix: this.queuePrefix, streams: { events: { maxLen: 100 } } });
    try {
      return await fn(queue);
    } finally {
      await queue.close();
    }
  }

  /** Registers (or replaces) the batch's check every `everyMs`; the first falls due now. */
  async schedule(check: DriftCheck, everyMs: number): Promise<void> {
    const data = DriftCheckSchema.parse(check);
    await this.#withQueue((queue) =>
      queue.upsertJobScheduler(schedulerId(data.batch), { every: everyMs }, { name: 'drift', data, opts: { removeOnComplete: { count: 50 }, removeOnFail: { count: 50 } } }),
    );
  }

  /**
   * Removes the batch's schedule; false if it had none. Looked up first in BullMQ's scheduler set
   * (`…:drift:repeat`), so that a prune of batches that never had one opens no queue (a Queue writes
   * its own keys when it starts).
   */
  async stop(batchId: string): Promise<boolean> {
    if ((await this.redis.zscore(this.#schedulers, schedulerId(batchId))) === null) return false;
    return this.#withQueue((queue) => queue.removeJobScheduler(schedulerId(batchId)));
  }

  /** Read-only: with no schedule, no queue is opened (its keys would be written by `drift --list`). */
  async list(): Promise<DriftSchedule[]> {
    if ((await this.redis.zcard(this.#schedulers)) === 0) return [];
    const schedulers = await this.#withQueue((queue) => queue.getJobSchedulers(0, 999, true));
    return schedulers.flatMap((s) => {
      const batch = s.key.startsWith('drift-') ? s.key.slice('drift-'.length) : '';
      if (!BATCH_ID.test(batch) || !s.every) return [];
      return [{ batch, everyMs: Number(s.every), ...(s.next ? { next: Number(s.next) } : {}) }];
    });
  }
}
