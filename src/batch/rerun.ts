/** Whether a re-run of a manifest attaches to its batch or is refused (SPEC §13). Pure. */
import { UsageError } from '../errors.js';
import { FINAL_BATCH_STATUSES } from './lifecycle.js';
import type { BatchMeta, Counts } from './records.js';

/**
 * SPEC §13, re-running never repeats (pure): the manifest's latest batch `meta` (none: a new batch)
 * is attached to while it has not finished, and refused once it has — cancelled and ended with
 * failures alike — with what finishes it (`counts` of a finished one say which retry).
 */
export function rerunDecision(file: string, meta: BatchMeta | undefined, counts: Pick<Counts, 'skipped' | 'failed'> | undefined): { attach?: BatchMeta } | { refuse: UsageError } {
  if (!meta) return {};
  if (!FINAL_BATCH_STATUSES.has(meta.status)) return { attach: meta };
  const skipped = counts?.skipped ?? 0;
  const unfinished = skipped + (counts?.failed ?? 0);
  return {
    refuse: new UsageError(
      `${file} was already submitted as batch ${meta.id}, which is ${meta.status}: submitting it again would apply it a second time`,
      unfinished > 0
        ? `finish that batch with \`nova-fleet retry ${meta.id}${skipped > 0 ? ' --skipped' : ''}\`, or give --new to make a new batch anyway`
        : `see it with \`nova-fleet report ${meta.id}\`; give --new to apply the manifest again as a new batch`,
    ),
  };
}
