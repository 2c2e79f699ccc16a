/**
 * The batches `prune` deleted (keys.ts `pruned`): gone on purpose, not lost. A journal of one found by
 * a later run is then not taken for a batch Redis lost and rebuilt (journal-recovery.ts); an import or
 * `rollback --journal` that brings one back on purpose forgets it. Only ids, the newest PRUNED_KEPT: a
 * bounded key whatever the history (~60 bytes each). A part of the store over its connection.
 */
import type { ScriptClient } from './scripts.js';
import type { Keys } from './keys.js';

/** How many pruned batch ids are remembered. */
export const PRUNED_KEPT = 100_000;

export class PrunedBatches {
  constructor(
    private readonly redis: ScriptClient,
    private readonly keys: Keys,
  ) {}

  async mark(batchIds: readonly string[], at: number): Promise<void> {
    if (batchIds.length === 0) return;
    await this.redis
      .multi()
      .zadd(this.keys.pruned(), ...batchIds.flatMap((id) => [at, id]))
      .zremrangebyrank(this.keys.pruned(), 0, -PRUNED_KEPT - 1)
      .exec();
  }

  /** Whether `prune` deleted the batch (and nothing brought it back since). */
  async has(batchId: string): Promise<boolean> {
    return (await this.redis.zscore(this.keys.pruned(), batchId)) !== null;
  }

  async forget(batchId: string): Promise<void> {
    await this.redis.zrem(this.keys.pruned(), batchId);
  }
}
