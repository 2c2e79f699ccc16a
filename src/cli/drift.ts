/** `nova-fleet drift BATCH [--json]`: the batch's agents changed since it left them (ops/drift.ts); exit 1 on drift. */
import { driftOf } from '../ops/drift.js';
import type { ApiFlags, RedisFlags } from '../ops/context.js';
import { formatChange } from './format.js';
import type { Output } from './output.js';

export async function driftCommand(batchId: string, flags: RedisFlags & ApiFlags, out: Output): Promise<number> {
  const report = await driftOf(batchId, flags, out);
  const head = `batch ${batchId}: ${report.drifted.length} of ${report.checked} agent${report.checked === 1 ? '' : 's'} it changed differ now (${report.requests.list} list page${report.requests.list === 1 ? '' : 's'}, ${report.requests.get} GET${report.requests.get === 1 ? '' : 's'})`;
  const lines = report.drifted.flatMap((d) => (d.kind === 'gone' ? [`  ${d.org_id}/${d.agent_id}: gone from the API`] : [`  ${d.org_id}/${d.agent_id}:`, ...d.changes.slice(0, 20).map((c) => `    ${formatChange(c)}`)]));
  out.result([head, ...lines].join('\n'), report);
  return report.drifted.length > 0 ? 1 : 0;
}
