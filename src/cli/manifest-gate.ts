/**
 * The gate every manifest passes before anything else happens (validate, plan, submit, run): the whole
 * file is validated; any issue prints `FILE:LINE: FIELD: message` lines on stderr (up to the cap, then a
 * count) and ends the command with exit 2 — nothing read from or written to the API or Redis.
 */
import { open } from 'node:fs/promises';
import { ExitError, EXIT_CODES, UsageError } from '../errors.js';
import { formatIssue } from '../manifest/errors.js';
import type { ManifestFormat } from '../manifest/types.js';
import { validateManifest, type ManifestOptions, type ValidationReport } from '../manifest/validate.js';
import type { Output } from './output.js';
import { describeSelector } from '../select/selector.js';

export interface ManifestFlags {
  format?: ManifestFormat;
  allowFilesOutside?: boolean;
  allowUnknownKeys?: boolean;
}

export function manifestOptions(flags: ManifestFlags): ManifestOptions {
  return { ...(flags.format ? { format: flags.format } : {}), allowFilesOutside: Boolean(flags.allowFilesOutside), ...(flags.allowUnknownKeys ? { allowUnknownKeys: true } : {}) };
}

/** A report's issues as stderr lines, capped, with the count of the rest. */
export function issueLines(report: ValidationReport): string[] {
  const lines = report.issues.map((issue) => formatIssue(report.summary.file, issue));
  const more = report.issueCount - report.issues.length;
  if (more > 0) lines.push(`… and ${more} more problem${more === 1 ? '' : 's'}`);
  return lines;
}

/**
 * `submit`/`run` given what is not a manifest but one of the tool's other inputs: said so, with the
 * command that takes it (a migration is planned, a plan applied) — not a hint to rename it `.csv`.
 */
export async function refuseNonManifest(file: string, command: 'submit' | 'run'): Promise<void> {
  const { isMigrationFile } = await import('../migrate/load.js');
  if (isMigrationFile(file)) {
    throw new UsageError(`${file} is a migration module: ${command} takes a manifest`, `plan it, then apply the reviewed plan: \`nova-fleet plan ${file} --out plan.json\`, then \`nova-fleet apply plan.json${command === 'run' ? ' --run' : ''}\``);
  }
  let head = '';
  try {
    const handle = await open(file, 'r');
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(32), 0, 32, 0);
      head = buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return; // unreadable: validation says so, naming the file
  }
  if (/^\s*\{"nova_fleet_plan":/.test(head)) {
    throw new UsageError(`${file} is a plan (written by \`nova-fleet plan --out\`): ${command} takes a manifest`, `apply exactly that plan: \`nova-fleet apply ${file}${command === 'run' ? ' --run' : ''}\``);
  }
}

/** Validate or end the command with exit 2. */
export async function requireValidManifest(file: string, flags: ManifestFlags, out: Output, options: ManifestOptions = manifestOptions(flags)): Promise<ValidationReport> {
  const report = await validateManifest(file, options);
  if (!report.ok) {
    for (const line of issueLines(report)) out.note(line);
    if (out.json) out.result('', { ok: false, issueCount: report.issueCount, issues: report.issues, summary: report.summary });
    throw new ExitError(
      EXIT_CODES.usage,
      `manifest rejected: ${report.issueCount} problem${report.issueCount === 1 ? '' : 's'}; nothing was done`,
      'fix the lines above and run again (`nova-fleet validate FILE` checks without touching anything)',
    );
  }
  for (const warning of report.warnings) out.note(formatIssue(report.summary.file, warning));
  return report;
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
