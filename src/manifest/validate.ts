/**
 * Validate a whole manifest in one streamed pass (SPEC §3): every row, every file it names, duplicate
 * agents — in memory that does not grow with the rows kept (only 24 bytes per distinct agent).
 * `scanManifest` yields each valid row as it goes and returns the report; `validateManifest` only
 * wants the report.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { FatalManifestError, type ManifestIssue } from './errors.js';
import { ManifestFiles } from './files.js';
import { KeySet } from './key-set.js';
import { readCsv } from './read-csv.js';
import { readJson } from './read-json.js';
import { readNdjson } from './read-ndjson.js';
import { checkDefaults, checkRow, type Defaults } from './row.js';
import type { ManifestFormat, ManifestRow, ReaderItem } from './types.js';
import { utf8Guard } from './utf8-guard.js';

export interface ManifestOptions {
  /** Overrides the format read from the extension. */
  format?: ManifestFormat;
  /** Allow `$file`/`$template` paths outside the manifest's folder. Default false. */
  allowFilesOutside?: boolean;
  /** Issues kept for printing; the rest are only counted. Default 100. */
  maxIssues?: number;
}

export interface ManifestSummary {
  file: string;
  format: ManifestFormat;
  rows: number;
  /** Distinct agents (org_id, agent_id). */
  agents: number;
  orgs: number;
  /** Leaf path → rows that set it. */
  fields: Record<string, number>;
  /** Distinct files read through $file/$template/FIELD:file. */
  files: number;
}

export interface ValidationReport {
  ok: boolean;
  summary: ManifestSummary;
  /** The first `maxIssues` issues, in file order. */
  issues: ManifestIssue[];
  /** All issues, including those not kept. */
  issueCount: number;
}

const EXTENSIONS: Record<string, ManifestFormat> = { '.csv': 'csv', '.json': 'json', '.ndjson': 'ndjson', '.jsonl': 'ndjson' };

export function detectFormat(file: string, explicit?: ManifestFormat): ManifestFormat {
  if (explicit) return explicit;
  const format = EXTENSIONS[path.extname(file).toLowerCase()];
  if (!format) throw new UsageError(`cannot tell the format of "${file}" from its extension`, 'name it .csv, .json, .ndjson or .jsonl, or pass --format csv|json|ndjson');
  return format;
}

const READERS: Record<ManifestFormat, (bytes: AsyncIterable<Buffer>) => AsyncGenerator<ReaderItem>> = {
  csv: readCsv,
  json: readJson,
  ndjson: readNdjson,
};

/** Streams the manifest's valid rows; returns the report once the file has been read to the end. */
export async function* scanManifest(file: string, options: ManifestOptions = {}): AsyncGenerator<ManifestRow, ValidationReport> {
  const format = detectFormat(file, options.format);
  const maxIssues = options.maxIssues ?? 100;
  const files = new ManifestFiles(file, { allowOutside: options.allowFilesOutside ?? false });
  const agents = new KeySet(1 << 14);
  const orgs = new KeySet(64);
  const fileNames = new Set<string>();
  /** Unreadable files already reported: once, at first use, rather than on every row using them. */
  const badFiles = new Set<string>();
  const fields = new Map<string, number>();
  const issues: ManifestIssue[] = [];
  let issueCount = 0;
  let rows = 0;
  let defaults: Defaults | undefined;
  const report = (issue: ManifestIssue) => {
    issueCount++;
    if (issues.length < maxIssues) issues.push(issue);
  };

  let handle;
  try {
    handle = await open(file, 'r');
    if (!(await handle.stat()).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
  } catch (error) {
    await handle?.close();
    throw new UsageError(`cannot read manifest "${file}": ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  const stream = handle.createReadStream({ highWaterMark: 64 * 1024 });
  try {
    for await (const item of READERS[format](utf8Guard(stream))) {
      if (item.kind === 'issue') {
        report(item.issue);
        continue;
      }
      if (item.kind === 'defaults') {
        const checked = checkDefaults(item.value, item.line);
        checked.issues.forEach(report);
        defaults = checked.defaults;
        continue;
      }
      rows++;
      const { line, value, partial } = item.row;
      const checked = checkRow(line, value, defaults, partial);
      let rowIssues = checked.issues.length;
      checked.issues.forEach(report);
      const ids = value as { org_id?: unknown; agent_id?: unknown };
      if (typeof ids.org_id === 'string' && typeof ids.agent_id === 'string') {
        const earlier = agents.add(`${ids.org_id}\u0000${ids.agent_id}`, line);
        if (earlier !== undefined) {
          report({ line, field: 'agent_id', message: `the same agent is already listed on line ${earlier}` });
          rowIssues++;
        }
        orgs.add(ids.org_id, line);
      }
      for (const ref of checked.files) {
        fileNames.add(ref.path);
        const check = await files.check(ref.path);
        if (!check.ok) {
          if (!badFiles.has(ref.path)) report({ line, field: ref.field, message: `${check.message} (reported once, at its first use)` });
          badFiles.add(ref.path);
          rowIssues++;
        } else if (ref.kind === '$template') {
          const vars = checked.row?.vars ?? {};
          for (const name of check.placeholders.filter((n) => !Object.hasOwn(vars, n))) {
            report({ line, field: ref.field, message: `template "${ref.path}" uses {{${name}}} but the row has no vars.${name}` });
            rowIssues++;
          }
        }
      }
      for (const p of checked.paths) fields.set(p, (fields.get(p) ?? 0) + 1);
      if (checked.row && rowIssues === 0 && issueCount === 0) yield checked.row;
    }
  } catch (error) {
    if (error instanceof FatalManifestError) report(error.issue);
    else throw error;
  } finally {
    stream.destroy();
  }
  if (rows === 0 && issueCount === 0) report({ line: 1, field: 'manifest', message: 'empty manifest: no rows' });
  // Readers may report a little out of order (csv-parse signals a skipped record early).
  issues.sort((a, b) => a.line - b.line);
  return {
    ok: issueCount === 0,
    summary: { file, format, rows, agents: agents.size, orgs: orgs.size, fields: Object.fromEntries([...fields].sort(([a], [b]) => a.localeCompare(b))), files: fileNames.size },
    issues,
    issueCount,
  };
}

export async function validateManifest(file: string, options: ManifestOptions = {}): Promise<ValidationReport> {
  const scan = scanManifest(file, options);
  for (;;) {
    const next = await scan.next();
    if (next.done) return next.value;
  }
}
