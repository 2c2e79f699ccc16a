/** `nova-fleet status [BATCH] [--watch]` and `nova-fleet batches`: what is going on, read-only. */
import { doneOf, viewBatch, type BatchView } from '../views/batch-view.js';
import { batchViews } from '../ops/status.js';
import { describeView } from './view-text.js';
import { requireBatch } from '../ops/require-batch.js';
import { FINAL_BATCH_STATUSES } from '../batch/lifecycle.js';
import { openStore, type RedisFlags } from '../ops/context.js';
import type { Output } from './output.js';
import { createLogUpdate } from 'log-update';
import { PLAIN, palette, type Palette } from './colors.js';
import { actionLine } from './audit.js';
import { formatTime } from './format.js';

export interface StatusFlags extends RedisFlags {
  watch?: boolean;
  /** Seconds between refreshes with --watch. Default 2. */
  interval?: number;
}

export function describeBatches(list: BatchView[], colors: Palette = PLAIN): string {
  if (list.length === 0) return 'no batches';
  const rows = list.map((v) => [
    v.meta.id,
    v.meta.kind,
    v.meta.status,
    formatTime(v.meta.createdAt),
    String(v.meta.total),
    String(v.counts.applied),
    String(v.counts.unchanged),
    String(v.counts.failed),
    String(v.counts.skipped),
    String(v.counts.restored),
    String(v.counts.conflict),
    String(v.counts.pending),
    v.attention.map((a) => (a.startsWith('no live worker') ? 'no worker' : a.startsWith('verifying') ? 'verifying' : 'needs --run-verify')).join(', '),
  ]);
  // A rollback's agents end restored or conflict: without those columns its row read as zeros.
  const header = ['batch', 'kind', 'status', 'created (UTC)', 'agents', 'applied', 'unchanged', 'failed', 'skipped', 'restored', 'conflict', 'pending', 'attention'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  // Padded before it is coloured: escape codes have no width on the terminal.
  const status = header.indexOf('status');
  return [header, ...rows].map((r, n) => r.map((cell, i) => (n > 0 && i === status ? colors.status(cell)(cell.padEnd(widths[i]!)) : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export async function batchesCommand(flags: RedisFlags, out: Output): Promise<void> {
  const list = await batchViews(flags);
  out.result(describeBatches(list, out.json ? PLAIN : palette(process.stdout)), list.map((v) => ({ ...v.meta, counts: v.counts })));
}

export async function statusCommand(batchId: string | undefined, flags: StatusFlags, out: Output): Promise<void> {
  if (!batchId) return batchesCommand(flags, out);
  const ctx = await openStore(flags, { readOnly: true });
  try {
    let meta = await requireBatch(ctx.store, batchId);
    let view = await viewBatch(ctx.store, meta);
    // On a terminal the block is drawn again in place (log-update); elsewhere each refresh is appended —
    // as on a terminal that says it has no rows (some CI pseudo-terminals), where log-update draws nothing.
    const live = flags.watch && process.stderr.isTTY && (process.stderr.rows ?? 0) > 0 ? createLogUpdate(process.stderr, { showCursor: true }) : undefined;
    const liveColors = palette(process.stderr);
    while (flags.watch && !FINAL_BATCH_STATUSES.has(view.meta.status)) {
      if (live) live(`${describeView(view, liveColors)}\n(updated ${new Date().toISOString().slice(11, 19)} UTC, every ${flags.interval ?? 2} s; Ctrl-C to stop)`);
      else out.note(`${describeView(view)}\n`);
      const sample = { done: view.done, at: Date.now() };
      await new Promise((resolve) => setTimeout(resolve, (flags.interval ?? 2) * 1000));
      meta = (await ctx.store.getBatch(batchId))!;
      view = await viewBatch(ctx.store, meta, sample);
    }
    live?.clear();
    // Who did what to it lately (SPEC §16): the newest few entries of the audit log naming it.
    const actions = await ctx.store.audit.read({ batch: batchId, limit: 5, scan: 5000 });
    const said = actions.map((e) => `    ${actionLine(e, false)}`);
    out.result(`${describeView(view, out.json ? PLAIN : palette(process.stdout))}${said.length > 0 ? `\n  actions (newest first; \`nova-fleet audit --batch ${batchId}\` for all)\n${said.join('\n')}` : ''}`, { ...view, done: doneOf(view.counts), actions });
  } finally {
    ctx.close();
  }
}
