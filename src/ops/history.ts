/**
 * An agent's history across batches (SPEC §16): every batch that took a snapshot of it, oldest first —
 * when, which batch (kind, manifest, who submitted it), how it ended for the agent, the fields it
 * changed — and the snapshots themselves. Read from the per-agent index the store keeps beside the
 * batches (a batch pruned since is counted, not shown).
 */
import type { Agent } from '../api/types.js';
import type { AgentStatus } from '../batch/lifecycle.js';
import { UsageError } from '../errors.js';
import { printable } from '../printable.js';
import { idProblem } from '../manifest/row.js';
import { agentKey } from '../store/keys.js';
import { openStore, type RedisFlags } from './context.js';

export interface HistoryEntry {
  batchId: string;
  kind: 'rollout' | 'rollback';
  /** When the batch first snapshotted the agent (ms). */
  at: number;
  manifest: string;
  submittedBy?: string;
  status: AgentStatus;
  changed: string[];
  error?: string;
  before?: Agent;
  after?: Agent;
}

export interface AgentHistory {
  agent: string;
  entries: HistoryEntry[];
  /** Batches in the index that are gone (pruned). */
  gone: number;
}

/** `ORG_ID/AGENT_ID`, checked as a manifest's ids are. */
export function parseAgentKey(text: string): string {
  const slash = text.indexOf('/');
  const [org, agent] = slash > 0 ? [text.slice(0, slash), text.slice(slash + 1)] : [undefined, undefined];
  const problem = org === undefined ? 'no "/" between them' : (idProblem(org) ?? idProblem(agent));
  if (problem) throw new UsageError(`"${printable(text.slice(0, 200))}" is not ORG_ID/AGENT_ID (${problem})`, 'name the agent as ORG_ID/AGENT_ID, e.g. a08ff49b-…/3c4ffd02-…');
  return agentKey(org!, agent!);
}

export async function agentHistory(target: string, flags: RedisFlags, options: { snapshots?: boolean } = {}): Promise<AgentHistory> {
  const key = parseAgentKey(target);
  const ctx = await openStore(flags, { readOnly: true });
  try {
    const entries: HistoryEntry[] = [];
    let gone = 0;
    for (const { batchId, at } of await ctx.store.history.of(key)) {
      const [meta, record] = await Promise.all([ctx.store.getBatch(batchId), ctx.store.agentRecord(batchId, key)]);
      if (!meta || !record) {
        gone++;
        continue;
      }
      entries.push({
        batchId,
        kind: meta.kind,
        at,
        manifest: meta.manifest,
        ...(meta.submittedBy ? { submittedBy: meta.submittedBy } : {}),
        status: record.status,
        changed: record.changed ?? [],
        ...(record.error ? { error: record.error } : {}),
        ...(options.snapshots && record.before ? { before: record.before } : {}),
        ...(options.snapshots && record.after ? { after: record.after } : {}),
      });
    }
    return { agent: key, entries, gone };
  } finally {
    ctx.close();
  }
}
