/** `nova-fleet audit [--since TIME] [--batch ID] [--json]`: who did what (SPEC §16), newest first. */
import { UsageError } from '../errors.js';
import { parseDuration } from '../batch/waves.js';
import { openStore, type RedisFlags } from '../ops/context.js';
import type { AuditEntry } from '../store/audit-log.js';
import type { Output } from './output.js';
import { formatTime } from './format.js';

export interface AuditFlags extends RedisFlags {
  since?: string;
  batch?: string;
  limit?: number;
}

/** `--since`: an ISO 8601 time, or how long ago (`24h`, `7d`). */
function sinceOf(text: string, now = Date.now()): number {
  const at = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isNaN(at)) return at;
  try {
    return now - parseDuration(text);
  } catch {
    throw new UsageError(`--since "${text}" is neither a time (ISO 8601) nor a duration such as 24h or 7d`);
  }
}

/** One action of the audit log in a line; `withBatch: false` where the batch is the one shown (status). */
export function actionLine(e: AuditEntry, withBatch = true): string {
  return `${formatTime(e.at)}  ${e.actor}  ${e.action}${withBatch && e.batch ? ` ${e.batch}` : ''}${e.detail ? ` (${e.detail})` : ''}${e.reason ? ` — "${e.reason}"` : ''}`;
}

export async function auditCommand(flags: AuditFlags, out: Output): Promise<void> {
  const since = flags.since !== undefined ? sinceOf(flags.since) : undefined;
  const ctx = await openStore(flags, { readOnly: true });
  try {
    const entries = await ctx.store.audit.read({ ...(since !== undefined ? { since } : {}), ...(flags.batch ? { batch: flags.batch } : {}), limit: flags.limit ?? 200 });
    const lines = entries.map((e) => actionLine(e));
    out.result(lines.length > 0 ? lines.join('\n') : 'no actions recorded', entries);
  } finally {
    ctx.close();
  }
}
