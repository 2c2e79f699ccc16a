/**
 * Glossary of manifests.
 *
 * - manifest: a CSV, JSON or NDJSON file listing agents and their patches (SPEC §3).
 * - raw row: one row as a reader found it — a JSON value shaped `{org_id, agent_id, patch, vars?}`
 *   (a CSV reader builds that shape from its columns) — with its first line in the file.
 * - defaults: the `{"defaults": {"patch": …, "vars": …}}` of a JSON manifest, merged under every row.
 * - manifest row: a raw row that passed every check; what plan and submit work from.
 */
import type { ManifestIssue } from './errors.js';

export type ManifestFormat = 'csv' | 'json' | 'ndjson';

export interface RawRow {
  line: number;
  value: unknown;
  /** Some of its cells were refused (already reported): an "empty patch" would be a follow-on error. */
  partial?: boolean;
}

/** What a reader yields, in file order. Fatal problems are thrown as FatalManifestError instead. */
export type ReaderItem =
  | { kind: 'row'; row: RawRow }
  | { kind: 'defaults'; line: number; value: unknown }
  | { kind: 'select'; line: number; value: unknown }
  | { kind: 'issue'; issue: ManifestIssue };

/** A checked row: defined beside its check (row.ts), so that a new column is one place there. */
export type { ManifestRow } from './row.js';

/** A cell or string value above this is refused (SPEC §3: cells over 1 MiB). */
export const MAX_CELL_BYTES = 1024 * 1024;
