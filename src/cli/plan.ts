/**
 * `nova-fleet plan MANIFEST [--out FILE]`: the dry run. Validates, GETs every listed agent within the
 * rate budget, prints a per-field summary with sample diffs, and writes every agent's full diff to
 * --out as NDJSON. Never a PATCH; nothing written to Redis. Exit 1 if any agent is missing.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { NovaClient } from '../api/client.js';
import { configFrom, type ApiFlags, type RedisFlags } from './context.js';
import { EXIT_CODES, UsageError } from '../errors.js';
import { ManifestFiles } from '../manifest/files.js';
import { scanManifest } from '../manifest/validate.js';
import { planManifest, type AgentPlan, type PlanSummary } from '../plan/plan.js';
import { formatChange } from './format.js';
import { manifestOptions, requireValidManifest, type ManifestFlags } from './manifest-gate.js';
import type { Output } from './output.js';

export interface PlanFlags extends ManifestFlags, RedisFlags, ApiFlags {
  out?: string;
}

export async function planCommand(file: string, flags: PlanFlags, out: Output): Promise<number> {
  const report = await requireValidManifest(file, flags, out);
  const config = configFrom(flags);
  if (!config.apiKey) throw new UsageError('NOVA_API_KEY is not set: plan reads every agent from the API', 'export NOVA_API_KEY=… (and NOVA_API_URL for another API)');
  const client = new NovaClient({ baseUrl: config.apiUrl, apiKey: config.apiKey, auth: config.auth, timeoutMs: config.timeoutMs, maxSockets: config.concurrency });
  const sink = flags.out ? createWriteStream(flags.out) : undefined;
  out.note(`plan: reading ${report.summary.agents} agents from ${config.apiUrl} at up to ${config.rate} requests/s (GET only)…`);
  let summary: PlanSummary;
  try {
    const rows = scanManifest(file, manifestOptions(flags));
    summary = await planManifest({
      rows,
      client,
      files: new ManifestFiles(file, { allowOutside: Boolean(flags.allowFilesOutside) }),
      rate: config.rate,
      concurrency: config.concurrency,
      ...(sink ? { onAgent: (plan: AgentPlan) => write(sink, plan) } : {}),
    });
  } finally {
    client.close();
    if (sink) {
      sink.end();
      await once(sink, 'close');
    }
  }
  out.result(describePlan(summary, flags.out), { ...summary, out: flags.out ?? null });
  return summary.counts.missing + summary.counts.error + summary.counts.invalid > 0 ? EXIT_CODES.failed : EXIT_CODES.ok;
}

async function write(sink: WriteStream, plan: AgentPlan): Promise<void> {
  if (!sink.write(`${JSON.stringify(plan)}\n`)) await once(sink, 'drain');
}

function describePlan(summary: PlanSummary, outFile: string | undefined): string {
  const c = summary.counts;
  const lines = [
    `plan: ${summary.agents} agents — ${c.change} would change, ${c.unchanged} unchanged, ${c.missing} missing${c.invalid ? `, ${c.invalid} cannot apply` : ''}${c.error ? `, ${c.error} unreadable` : ''}`,
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
    const more = c.missing + c.invalid + c.error - Math.min(20, summary.problems.length);
    if (more > 0) lines.push(`  … and ${more} more${outFile ? ` (all in ${outFile})` : ''}`);
  }
  if (outFile) lines.push('', `every agent's diff: ${outFile}`);
  return lines.join('\n');
}
