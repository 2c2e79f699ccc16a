/**
 * `nova-fleet validate MANIFEST|MIGRATION`: parse and validate only — no Redis, no network. Exit 0 or 2.
 * A migration module is loaded (its selector and expect are checked by defineMigration); its transform
 * is not run — that needs the agents, which `plan` reads.
 */
import { isMigrationFile, loadMigration } from '../migrate/load.js';
import { describeSelector } from '../select/selector.js';
import { requireValidManifest, type ManifestFlags } from '../ops/manifest-gate.js';
import type { ValidationReport } from '../manifest/validate.js';
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

export function describeSummary(report: ValidationReport): string {
  const s = report.summary;
  const width = Math.max(0, ...Object.keys(s.fields).map((p) => p.length));
  const fields = Object.entries(s.fields)
    .map(([path, n]) => `  ${path.padEnd(width)}  ${n} row${n === 1 ? '' : 's'}`)
    .join('\n');
  if (s.selector) return `${s.file}: valid selector manifest — ${describeSelector(s.selector.select)}; plan, submit and run find them through the API`;
  return [
    `${s.file}: valid ${s.format} manifest — ${s.rows} row${s.rows === 1 ? '' : 's'}, ${s.agents} agent${s.agents === 1 ? '' : 's'} in ${s.orgs} org${s.orgs === 1 ? '' : 's'}${s.files ? `, ${s.files} file${s.files === 1 ? '' : 's'} read` : ''}`,
    'fields touched:',
    fields,
  ].join('\n');
}
