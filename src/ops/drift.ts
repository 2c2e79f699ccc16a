/**
 * Drift (SPEC §16): which of a batch's agents differ now from what the batch left them as (its after
 * snapshots). The list endpoint's `updated_at` first — 100 agents a request — and a GET only for the
 * agents whose `updated_at` moved since (or that the list did not show), diffed field by field against
 * the after snapshot. Reads only; at `--rate`.
 */
import type { Agent } from '../api/types.js';
import { diffValues, type FieldChange } from '../patch/desired.js';
import { isWritableField } from '../patch/fields.js';
import { Pacer } from '../plan/pacer.js';
import { NovaApiError } from '../api/errors.js';
import { splitAgentKey } from '../store/keys.js';
import { apiClient } from './api-context.js';
import { openStore, type ApiFlags, type RedisFlags } from './context.js';
import type { Notes } from './notes.js';
import { requireBatch } from './require-batch.js';

export interface DriftedAgent {
  org_id: string;
  agent_id: string;
  /** `changed`: fields differ from the after snapshot; `gone`: the API no longer has the agent. */
  kind: 'changed' | 'gone';
  changes: FieldChange[];
}

export interface DriftReport {
  batchId: string;
  /** Agents the batch changed (applied or restored), with an after snapshot to compare. */
  checked: number;
  drifted: DriftedAgent[];
  requests: { list: number; get: number };
}

/** The agents a batch changed, as it left them. */
async function leftAs(store: Awaited<ReturnType<typeof openStore>>['store'], batchId: string): Promise<Map<string, Agent>> {
  const after = new Map<string, Agent>();
  for await (const pairs of store.scanStatuses(batchId, 500)) {
    for (const [key, status] of pairs) {
      if (status !== 'applied' && status !== 'restored') continue;
      const record = await store.agentRecord(batchId, key);
      if (record?.after) after.set(key, record.after);
    }
  }
  return after;
}

export async function driftOf(batchId: string, flags: RedisFlags & ApiFlags, notes: Notes): Promise<DriftReport> {
  const ctx = await openStore(flags, { readOnly: true });
  const client = apiClient(ctx.config, undefined, (line) => notes.note(line));
  try {
    await requireBatch(ctx.store, batchId);
    const after = await leftAs(ctx.store, batchId);
    const pace = new Pacer(ctx.config.rate);
    const requests = { list: 0, get: 0 };
    const byOrg = new Map<string, string[]>();
    for (const key of after.keys()) {
      const { orgId } = splitAgentKey(key);
      const keys = byOrg.get(orgId);
      if (keys) keys.push(key);
      else byOrg.set(orgId, [key]);
    }
    const drifted: DriftedAgent[] = [];
    for (const [orgId, keys] of byOrg) {
      // The list's updated_at of every agent of the org: an agent that has not moved needs no GET.
      const listed = new Map<string, unknown>();
      for (let page = 1; ; page++) {
        await pace.take();
        requests.list++;
        const result = await client.listAgentsPage(orgId, page, { size: 100 });
        for (const row of result.data) listed.set(row.id, row.updated_at);
        if (page >= result.meta.total_pages || result.data.length === 0) break;
      }
      for (const key of keys) {
        const { agentId } = splitAgentKey(key);
        const left = after.get(key)!;
        if (listed.has(agentId) && listed.get(agentId) === left.updated_at) continue;
        await pace.take();
        requests.get++;
        let now: Agent;
        try {
          now = await client.getAgent(orgId, agentId);
        } catch (error) {
          if (error instanceof NovaApiError && error.kind === 'not_found') {
            drifted.push({ org_id: orgId, agent_id: agentId, kind: 'gone', changes: [] });
            continue;
          }
          throw error;
        }
        const changes = Object.keys({ ...left, ...now })
          .filter(isWritableField)
          .sort()
          .flatMap((field) => diffValues(left[field], now[field], field));
        if (changes.length > 0) drifted.push({ org_id: orgId, agent_id: agentId, kind: 'changed', changes });
      }
    }
    return { batchId, checked: after.size, drifted, requests };
  } finally {
    client.close();
    ctx.close();
  }
}
