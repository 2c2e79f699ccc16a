/** `nova-fleet history ORG_ID/AGENT_ID [--json]`: every batch that touched an agent (ops/history.ts). */
import { agentHistory } from '../ops/history.js';
import type { RedisFlags } from '../ops/context.js';
import type { Output } from './output.js';
import { formatTime } from './format.js';

export async function historyCommand(target: string, flags: RedisFlags, out: Output): Promise<void> {
  const history = await agentHistory(target, flags, { snapshots: out.json });
  const lines = history.entries.map((e) => `${formatTime(e.at)}  ${e.batchId} (${e.kind}${e.submittedBy ? ` by ${e.submittedBy}` : ''})  ${e.status}${e.changed.length > 0 ? `  ${e.changed.join(', ')}` : ''}${e.error ? `  — ${e.error.slice(0, 120)}` : ''}`);
  if (history.gone > 0) lines.push(`(${history.gone} batch${history.gone === 1 ? '' : 'es'} that touched it pruned since)`);
  out.result(lines.length > 0 ? [`agent ${history.agent}:`, ...lines].join('\n') : `agent ${history.agent}: no batch has touched it`, history);
}
