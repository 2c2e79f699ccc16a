/**
 * `nova-fleet plan MANIFEST [--out PLAN.json]`: the dry run (ops/plan.ts), printed as a per-field
 * summary with sample diffs. Exit 1 if any agent is missing.
 */
import { planChanges, type PlanFlags } from '../ops/plan.js';
import type { PlanSummary } from '../plan/plan.js';
import { formatChange } from './format.js';
import type { Output } from './output.js';

export async function planCommand(file: string, flags: PlanFlags, out: Output): Promise<number> {
  const { exitCode, ...result } = await planChanges(file, flags, out);
  out.result(describePlan(result, flags.out), result);
  return exitCode;
}

function describePlan(summary: PlanSummary, outFile: string | undefined): string {
  const c = summary.counts;
  const lines = [
    `plan: ${summary.agents} agents — ${c.change} would change, ${c.unchanged} unchanged, ${c.missing} missing${c.invalid ? `, ${c.invalid} cannot apply` : ''}${c.skipped ? `, ${c.skipped} skipped by a precondition` : ''}${c.error ? `, ${c.error} unreadable` : ''}`,
  ];
  if (Object.keys(summary.fields).length > 0) {
    lines.push('', 'agents changing each field:');
    const width = Math.max(...Object.keys(summary.fields).map((p) => p.length));
    for (const [path, n] of Object.entries(summary.fields)) lines.push(`  ${path.padEnd(width)}  ${n}`);
    lines.push('', 'sample diffs:');
    for (const s of summary.samples.slice(0, 12)) lines.push(`  ${s.org_id}/${s.agent_id} ${formatChange(s.change)}`);
  }
  if (summary.problems.length > 0) {
    lines.push('', 'not changeable:');
    for (const p of summary.problems.slice(0, 20)) lines.push(`  line ${p.line} ${p.org_id}/${p.agent_id}: ${p.status}${p.error ? ` — ${p.error}` : ''}`);
    const more = c.missing + c.invalid + c.skipped + c.error - Math.min(20, summary.problems.length);
    if (more > 0) lines.push(`  … and ${more} more${outFile ? ` (all in ${outFile})` : ''}`);
  }
  if (outFile) lines.push('', `the plan, with every agent's diff: ${outFile} — apply exactly it with \`nova-fleet apply ${outFile}\``);
  return lines.join('\n');
}
