/**
 * Validate a whole manifest in one streamed pass (SPEC §3): every row, every file it names, duplicate
 * agents — in memory that does not grow with the rows kept (only 24 bytes per distinct agent).
 * `scanManifest` yields each valid row as it goes and returns the report; `validateManifest` only
 * wants the report.
 */
import { MAX_RENDERED_BYTES, renderedBytes } from '../patch/template.js';
import { replaceWarnings } from '../patch/desired.js';
import { REGEX_TIME_LIMIT_MS } from '../patch/replace.js';
import { openRegularFile } from '../user-files.js';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { FatalManifestError, type ManifestIssue } from './errors.js';
import { ManifestFiles } from './files.js';
import { KeySet } from './key-set.js';
import { readNdjson } from './read-ndjson.js';
import { checkDefaults, checkRow, type Defaults } from './row.js';
import { checkSelector, type Selector } from '../select/selector.js';
import type { FileRef } from '../patch/row-patch.js';
import type { ManifestFormat, ManifestRow, ReaderItem } from './types.js';
import { utf8Guard } from './utf8-guard.js';

export interface ManifestOptions {
  /** Overrides the format read from the extension. */
  format?: ManifestFormat;
  /** Allow `$file`/`$template` paths outside the manifest's folder. Default false. */
  allowFilesOutside?: boolean;
  /** Keys of free-form objects outside the vendor's list pass (`--allow-unknown-keys`). */
  allowUnknownKeys?: boolean;
  /** The folder `$file`/`$template` paths are relative to, when the rows were written elsewhere (an expanded selector). */
  baseDir?: string;
  /** Issues kept for printing; the rest are only counted. Default 100. */
  maxIssues?: number;
  /** The rows of an applied plan (apply's own manifest): a row may carry `planned`, the plan's snapshot. */
  planned?: boolean;
}

export interface ManifestSummary {
  file: string;
  format: ManifestFormat;
  rows: number;
  /** Distinct agents (org_id, agent_id). */
  agents: number;
  orgs: number;
  /**
   * One agent of each org, in manifest order (the first 10,000 orgs): enough for a preflight read of
   * every org's key (SPEC §10) without scanning the manifest again.
   */
  orgSamples: Array<{ org_id: string; agent_id: string }>;
  /** Leaf path → rows that set it. */
  fields: Record<string, number>;
  /** Distinct files read through $file/$template/FIELD:file. */
  files: number;
  /** A selector manifest (SPEC §11): no rows of its own; plan/submit/run expand it through the API. */
  selector?: { line: number; select: Selector; defaults: unknown };
}

export interface ValidationReport {
  ok: boolean;
  summary: ManifestSummary;
  /** The first `maxIssues` issues, in file order. */
  issues: ManifestIssue[];
  /** All issues, including those not kept. */
  issueCount: number;
  /** Things that are valid but risky (a `$replace` that is not idempotent), each kind once, capped. */
  warnings: ManifestIssue[];
}

/** Warnings kept: one per distinct directive, so a fleet-wide `$replace` warns once, not per row. */
const MAX_WARNINGS = 20;

const EXTENSIONS: Record<string, ManifestFormat> = { '.csv': 'csv', '.json': 'json', '.ndjson': 'ndjson', '.jsonl': 'ndjson' };

export function detectFormat(file: string, explicit?: ManifestFormat): ManifestFormat {
  if (explicit) return explicit;
  const format = EXTENSIONS[path.extname(file).toLowerCase()];
  if (!format) throw new UsageError(`cannot tell the format of "${file}" from its extension`, 'name it .csv, .json, .ndjson or .jsonl, or pass --format csv|json|ndjson');
  return format;
}

type Reader = (bytes: AsyncIterable<Buffer>) => AsyncGenerator<ReaderItem>;

/** Each format's reader, loaded when a manifest of that format is read (csv-parse and the JSON tokenizer weigh ~110 KB of `run`'s start-up otherwise). */
const READERS: Record<ManifestFormat, () => Promise<Reader> | Reader> = {
  csv: async () => (await import('./read-csv.js')).readCsv,
  json: async () => (await import('./read-json.js')).readJson,
  ndjson: () => readNdjson,
};

/** Streams the manifest's valid rows; returns the report once the file has been read to the end. */
export async function* scanManifest(file: string, options: ManifestOptions = {}): AsyncGenerator<ManifestRow, ValidationReport> {
  const format = detectFormat(file, options.format);
  const maxIssues = options.maxIssues ?? 100;
  const files = manifestFiles(file, options);
  const agents = new KeySet(1 << 14);
  const orgs = new KeySet(64);
  const orgSamples: Array<{ org_id: string; agent_id: string }> = [];
  const fileNames = new Set<string>();
  /** Unreadable files already reported: once, at first use, rather than on every row using them. */
  const badFiles = new Set<string>();
  const fields = new Map<string, number>();
  const issues: ManifestIssue[] = [];
  let issueCount = 0;
  let rows = 0;
  let defaults: Defaults | undefined;
  let rawDefaults: unknown;
  let defaultFiles: FileRef[] = [];
  let selector: ManifestSummary['selector'];
  const warnings: ManifestIssue[] = [];
  const warned = new Set<string>();
  const report = (issue: ManifestIssue) => {
    issueCount++;
    if (issues.length < maxIssues) issues.push(issue);
  };

  const handle = await openRegularFile(file, 'manifest');
  const stream = handle.createReadStream({ highWaterMark: 64 * 1024 });
  try {
    const read = await READERS[format]();
    for await (const item of read(utf8Guard(stream))) {
      if (item.kind === 'issue') {
        report(item.issue);
        continue;
      }
      if (item.kind === 'defaults') {
        const checked = checkDefaults(item.value, item.line, { allowUnknownKeys: Boolean(options.allowUnknownKeys) });
        checked.issues.forEach(report);
        defaults = checked.defaults;
        rawDefaults = item.value;
        defaultFiles = checked.files;
        continue;
      }
      if (item.kind === 'select') {
        const problems = checkSelector(item.value);
        problems.forEach((p) => report({ line: item.line, field: p.path, message: p.message }));
        if (problems.length === 0) selector = { line: item.line, select: item.value as Selector, defaults: rawDefaults };
        if (!defaults?.patch && defaults?.valid !== false) report({ line: item.line, field: 'defaults.patch', message: 'a selector needs "defaults" with the "patch" every selected agent gets, before "select"' });
        // No row will name the defaults' files: they are checked here, templates against the defaults' vars.
        for (const ref of defaultFiles) {
          fileNames.add(ref.path);
          const check = await files.check(ref.path);
          if (!check.ok) report({ line: item.line, field: `defaults.${ref.field}`, message: check.message });
          else if (ref.kind === '$template') {
            for (const name of check.placeholders.filter((n) => !Object.hasOwn(defaults?.vars ?? {}, n))) report({ line: item.line, field: `defaults.${ref.field}`, message: `template "${ref.path}" uses {{${name}}} but defaults.vars has no ${name}` });
          }
        }
        continue;
      }
      rows++;
      const { line, value, partial } = item.row;
      const checked = checkRow(line, value, defaults, partial, { allowUnknownKeys: Boolean(options.allowUnknownKeys), ...(options.planned ? { planned: true } : {}) });
      let rowIssues = checked.issues.length;
      checked.issues.forEach(report);
      const ids = value as { org_id?: unknown; agent_id?: unknown };
      if (typeof ids.org_id === 'string' && typeof ids.agent_id === 'string') {
        const earlier = agents.add(`${ids.org_id}\u0000${ids.agent_id}`, line);
        if (earlier !== undefined) {
          report({ line, field: 'agent_id', message: `the same agent is already listed on line ${earlier}` });
          rowIssues++;
        }
        if (orgs.add(ids.org_id, line) === undefined && orgSamples.length < 10_000) orgSamples.push({ org_id: ids.org_id, agent_id: ids.agent_id });
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
          // The rendered value is bounded like a cell, before anything is rendered or stored.
          const size = renderedBytes(check.bytes, check.use, vars);
          if (size > MAX_RENDERED_BYTES) {
            report({ line, field: ref.field, message: `template "${ref.path}" filled from this row's vars would be ${size} bytes, over 1 MiB` });
            rowIssues++;
          }
        }
      }
      for (const p of checked.paths) fields.set(p, (fields.get(p) ?? 0) + 1);
      for (const { path: field, spec, kind } of checked.row ? replaceWarnings(checked.row.patch) : []) {
        const id = JSON.stringify([field, spec, kind]);
        if (warned.has(id) || warnings.length >= MAX_WARNINGS) continue;
        warned.add(id);
        const find = JSON.stringify(spec.find.slice(0, 60));
        warnings.push({
          line,
          field,
          message:
            kind === 'catastrophic'
              ? `warning: $replace pattern ${find} has nested quantifiers and may backtrack for minutes on some texts; each application is cut off after ${REGEX_TIME_LIMIT_MS} ms and that agent fails`
              : `warning: $replace is not idempotent: its result still matches ${find}, so applying this manifest again as a new batch would change the text again (a re-run of the same batch is safe); an idempotent form: "regex": true with a lookahead, e.g. "Acme(?! Corp)"`,
        });
      }
      if (checked.row && rowIssues === 0 && issueCount === 0) yield checked.row;
    }
  } catch (error) {
    if (error instanceof FatalManifestError) report(error.issue);
    else throw error;
  } finally {
    stream.destroy();
  }
  if (rows === 0 && issueCount === 0 && !selector) report({ line: 1, field: 'manifest', message: 'empty manifest: no rows' });
  // Readers may report a little out of order (csv-parse signals a skipped record early).
  issues.sort((a, b) => a.line - b.line);
  return {
    ok: issueCount === 0,
    summary: { file, format, rows, agents: agents.size, orgs: orgs.size, orgSamples, fields: Object.fromEntries([...fields].sort(([a], [b]) => a.localeCompare(b))), files: fileNames.size, ...(selector ? { selector } : {}) },
    issues,
    issueCount,
    warnings,
  };
}

/** The files a manifest's rows refer to, relative to its folder (or `baseDir`). */
export function manifestFiles(file: string, options: ManifestOptions): ManifestFiles {
  return new ManifestFiles(options.baseDir ? path.join(options.baseDir, path.basename(file)) : file, { allowOutside: options.allowFilesOutside ?? false });
}

export async function validateManifest(file: string, options: ManifestOptions = {}): Promise<ValidationReport> {
  const scan = scanManifest(file, options);
  for (;;) {
    const next = await scan.next();
    if (next.done) return next.value;
  }
}
