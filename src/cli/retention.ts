/** `nova-fleet prune --older-than DAYS`, `export BATCH FILE`, `import FILE`: keeping history tidy. */
import { exportBatch, importBatch, pruneBatches } from '../ops/retention.js';
import { openStore, type RedisFlags } from '../ops/context.js';
import { requireRegularFile, requireWritableTarget } from '../user-files.js';
import type { Output } from './output.js';
import { recordAction } from '../ops/actor.js';
import { confirmer } from './confirm.js';

export async function pruneCommand(flags: RedisFlags & { olderThan: number; yes?: boolean }, out: Output): Promise<void> {
  const ctx = await openStore(flags);
  try {
    const { pruned, keptActive, invalid } = await pruneBatches(ctx.store, flags.olderThan, Date.now(), confirmer(flags.yes));
    if (pruned.length > 0) await recordAction(ctx.store, 'prune', { reason: flags.reason, detail: `${pruned.length} batches older than ${flags.olderThan} days: ${pruned.slice(0, 20).join(', ')}${pruned.length > 20 ? ', …' : ''}` });
    if (invalid.length > 0) out.note(`prune: left ${invalid.length} entr${invalid.length === 1 ? 'y' : 'ies'} of the batches index that ${invalid.length === 1 ? 'is' : 'are'} no batch id alone (${invalid.slice(0, 5).map((id) => JSON.stringify(id.slice(0, 100))).join(', ')}${invalid.length > 5 ? ', …' : ''}): not written by nova-fleet`);
    if (keptActive.length > 0) out.note(`prune: kept ${keptActive.length} active batch${keptActive.length === 1 ? '' : 'es'} (${keptActive.join(', ')}); cancel them first`);
    out.result(`prune: deleted ${pruned.length} batch${pruned.length === 1 ? '' : 'es'} older than ${flags.olderThan} days${pruned.length ? `: ${pruned.join(', ')}` : ''}`, { pruned, keptActive, invalid });
  } finally {
    ctx.close();
  }
}

export async function exportCommand(batchId: string, file: string, flags: RedisFlags, out: Output): Promise<void> {
  await requireWritableTarget(file, 'archive');
  const ctx = await openStore(flags, { readOnly: true });
  try {
    const { agents } = await exportBatch(ctx.store, batchId, file);
    await recordAction(ctx.store, 'export', { batch: batchId, reason: flags.reason, detail: file });
    out.result(`export: batch ${batchId} (${agents} agents, snapshots included) written to ${file}`, { batchId, file, agents });
  } finally {
    ctx.close();
  }
}

export async function importCommand(file: string, flags: RedisFlags & { trust?: boolean; yes?: boolean }, out: Output): Promise<void> {
  await requireRegularFile(file, 'archive');
  if (flags.trust) await confirmer(flags.yes)(`import ${file} with --trust: its --verify-cmd and --notify URL are kept (workers started with --run-verify run that command)?`);
  const ctx = await openStore(flags);
  try {
    const { meta, agents } = await importBatch(ctx.store, file, { trust: Boolean(flags.trust) });
    await recordAction(ctx.store, 'import', { batch: meta.id, reason: flags.reason, detail: `${file}${flags.trust ? ', --trust' : ''}` });
    out.result(`import: batch ${meta.id} (${meta.status}, ${agents} agents) restored from ${file}`, { batchId: meta.id, status: meta.status, agents });
  } finally {
    ctx.close();
  }
}
