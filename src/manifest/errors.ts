import { printable } from '../printable.js';

/**
 * Manifest problems. Every one is reported as `FILE:LINE: FIELD: message` (SPEC §3); a whole manifest
 * with any of them is rejected (exit 2) before anything is written anywhere.
 */

export interface ManifestIssue {
  /** 1-based line in the manifest file where the problem is (a row's first line). */
  readonly line: number;
  /** The field or structure concerned: `agent_id`, `vad_config.sample_rate`, `csv`, `json`, `manifest`. */
  readonly field: string;
  readonly message: string;
}

/** A problem after which the rest of the file cannot be read reliably (bad UTF-8, broken quoting). */
export class FatalManifestError extends Error {
  override readonly name = 'FatalManifestError';
  constructor(readonly issue: ManifestIssue) {
    super(`${issue.line}: ${issue.field}: ${issue.message}`);
  }
}

/**
 * One error line. Field names come from the manifest (a CSV header) and messages may quote its values:
 * both are cut to a sane length and their control characters shown escaped, so a hostile manifest can
 * neither flood the terminal nor send it escape sequences.
 */
export function formatIssue(file: string, issue: ManifestIssue): string {
  return `${file}:${issue.line}: ${shown(issue.field, 200)}: ${shown(issue.message, 500)}`;
}

function shown(text: string, max: number): string {
  return printable(text.length > max ? `${text.slice(0, max)}…` : text);
}
