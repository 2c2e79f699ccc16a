/**
 * The gate every manifest passes before anything else happens (validate, plan, submit, run): the whole
 * file is validated; any issue prints `FILE:LINE: FIELD: message` lines on stderr (up to the cap, then a
 * count) and ends the command with exit 2 — nothing read from or written to the API or Redis.
 */
import { open } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { formatIssue } from '../manifest/errors.js';
import type { ManifestFormat } from '../manifest/types.js';
import { validateManifest, type ManifestOptions, type ValidationReport } from '../manifest/validate.js';
import type { Notes } from './notes.js';

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

/**
 * A manifest refused by validation (exit 2): its report travels with the error, so a `--json` caller
 * can print it and a library caller can read it.
 */
export class ManifestRejected extends UsageError {
  constructor(readonly report: ValidationReport) {
    super(
      `manifest rejected: ${report.issueCount} problem${report.issueCount === 1 ? '' : 's'}; nothing was done`,
      'fix the lines above and run again (`nova-fleet validate FILE` checks without touching anything)',
    );
  }
}

/** Validate or end the command with exit 2 (its issues noted, one line each). */
export async function requireValidManifest(file: string, flags: ManifestFlags, notes: Notes, options: ManifestOptions = manifestOptions(flags)): Promise<ValidationReport> {
  const report = await validateManifest(file, options);
  if (!report.ok) {
    for (const line of issueLines(report)) notes.note(line);
    throw new ManifestRejected(report);
  }
  for (const warning of report.warnings) notes.note(formatIssue(report.summary.file, warning));
  return report;
}
