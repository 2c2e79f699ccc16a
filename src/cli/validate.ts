/**
 * `nova-fleet validate MANIFEST|MIGRATION`: parse and validate only — no Redis, no network. Exit 0 or 2.
 * A migration module is loaded (its selector and expect are checked by defineMigration); its transform
 * is not run — that needs the agents, which `plan` reads.
 */
import { isMigrationFile, loadMigration } from '../migrate/load.js';
import { describeSelector } from '../select/selector.js';
import { describeSummary, requireValidManifest, type ManifestFlags } from './manifest-gate.js';
import type { Output } from './output.js';

export async function validateCommand(file: string, flags: ManifestFlags, out: Output): Promise<void> {
  if (isMigrationFile(file)) {
    const migration = await loadMigration(file);
    out.result(`${file}: valid migration — ${describeSelector(migration.select)}; \`nova-fleet plan ${file} --out PLAN.json\` runs its transform on them`, { ok: true, migration: { select: migration.select, expect: migration.expect ?? null } });
    return;
  }
  const report = await requireValidManifest(file, flags, out);
  out.result(describeSummary(report), { ok: true, summary: report.summary, warnings: report.warnings });
}
