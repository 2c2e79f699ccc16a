/**
 * A batch's report (SPEC §6): one row per agent — org_id, agent_id, status, attempts, error, changed
 * fields; JSON/NDJSON rows also carry the full before and after snapshots. Streamed from Redis (HSCAN
 * and one agent at a time), so a 100k-agent report is never built in memory.
 */
import type { Agent } from '../api/types.js';
import type { BatchStore } from '../store/batch-store.js';
import type { AgentStatus } from '../batch/lifecycle.js';
import { splitAgentKey } from '../store/keys.js';

export interface ReportRow {
  org_id: string;
  agent_id: string;
  status: AgentStatus;
  attempts: number;
  error: string;
  changed: string[];
  /** The scheme the org's key was accepted with (`x-api-key`, `bearer`), '' if no request told yet. */
  auth: string;
  before?: Agent | null;
  after?: Agent | null;
}

export async function* reportRows(store: BatchStore, batchId: string, options: { snapshots: boolean }): AsyncGenerator<ReportRow> {
  const schemes = (await store.getBatch(batchId))?.authSchemes ?? {};
  for await (const pairs of store.scanStatuses(batchId, 500)) {
    for (const [key] of pairs) {
      const record = await store.agentRecord(batchId, key);
      if (!record) continue;
      const { orgId, agentId } = splitAgentKey(key);
      const row: ReportRow = { org_id: orgId, agent_id: agentId, status: record.status, attempts: record.attempts, error: record.error ?? '', changed: record.changed ?? [], auth: schemes[orgId] ?? '' };
      if (options.snapshots) {
        row.before = record.before ?? null;
        row.after = record.after ?? null;
      }
      yield row;
    }
  }
}

/**
 * Spreadsheet formula injection (OWASP "CSV injection"): a cell starting with =, +, -, @, tab or CR is
 * run as a formula by Excel/Sheets. Such cells get a leading apostrophe, which spreadsheets show as
 * text. Server error messages and agent names are not ours to trust.
 */
export function neutraliseCell(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

export const CSV_COLUMNS = ['org_id', 'agent_id', 'status', 'attempts', 'error', 'changed_fields', 'auth'] as const;

export function csvRecord(row: ReportRow): string[] {
  return [row.org_id, row.agent_id, row.status, String(row.attempts), row.error, row.changed.join(';'), row.auth].map(neutraliseCell);
}
