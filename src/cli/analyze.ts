/**
 * `nova-fleet analyze BATCH [--kept] [--json]`: the calls-gate judgements a batch kept, wave by wave,
 * and one made now from its agents' calls (ops/analyze.ts). Exit 1 if the judgement made now finds the
 * changed agents degraded, 0 otherwise.
 */
import { analyzeBatch, type AnalyzeFlags } from '../ops/analyze.js';
import type { Output } from './output.js';
import { gateLine } from './view-text.js';

export async function analyzeCommand(batchId: string, flags: AnalyzeFlags, out: Output): Promise<number> {
  const result = await analyzeBatch(batchId, flags, out);
  const lines = [`batch ${batchId}: ${result.gate ? `calls gate, completion may drop ${(result.gate.maxDrop * 100).toFixed(1)} points at most` : 'run without a calls gate'}`];
  if (result.waves.length > 0) lines.push('judged as it ran:', ...result.waves.map((a) => `  ${gateLine(a)}`));
  else if (result.gate) lines.push('no wave judged yet');
  if (result.now) {
    const against = result.now.mode === 'control' ? 'the agents it did not change' : 'their own calls before the change';
    lines.push(`now, since ${new Date(result.now.interval.from).toISOString()} (against ${against}):`, `  ${gateLine(result.now).replace(/^wave \d+: /, '')}`, `  ${result.now.why}`);
  }
  out.result(lines.join('\n'), result);
  return result.now?.verdict === 'degraded' ? 1 : 0;
}
