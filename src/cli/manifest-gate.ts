/**
 * The gate every manifest passes before anything else happens (validate, plan, submit, run): the whole
 * file is validated; any issue prints `FILE:LINE: FIELD: message` lines on stderr (up to the cap, then a
 * count) and ends the command with exit 2 — nothing read from or written to the API or Redis.
 */
import { ExitError, EXIT_CODES } from '../errors.js';
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
