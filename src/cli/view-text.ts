/** A batch's view as the text `status`, `run` and the demo print. */
import { PLAIN, type Palette } from './colors.js';
import type { BatchView } from '../views/batch-view.js';
import type { WaveAnalysis } from '../batch/wave-analysis.js';
import { formatP } from '../batch/call-stats.js';

export function describeView(view: BatchView, colors: Palette = PLAIN): string {
  const { meta, counts } = view;
  const total = meta.total || 1;
  const lines = [
    `batch ${meta.id} (${meta.kind}) — ${colors.status(meta.status)(meta.status)}${meta.haltReason ? `: ${meta.haltReason}` : ''}`,
    `  manifest  ${meta.manifest}`,
    `  created   ${new Date(meta.createdAt).toISOString()}${meta.finishedAt ? `, finished ${new Date(meta.finishedAt).toISOString()}` : ''}`,
    `  progress  ${view.done}/${meta.total}${meta.enqueued ? '' : ' (still enqueueing)'} (${Math.floor((view.done / total) * 100)}%), ${view.rate.toFixed(1)} agents/s${view.etaSeconds !== undefined ? `, ETA ${formatDuration(view.etaSeconds)}` : ''}`,
    `  agents    ${Object.entries(counts)
      .filter(([, n]) => n > 0)
      .map(([s, n]) => `${s} ${n}`)
      .join(', ') || 'none'}`,
    ...(meta.submittedBy ? [`  by        ${meta.submittedBy}${meta.fourEyes ? ' (--four-eyes: approved by someone else)' : ''}`] : []),
    `  rate      up to ${meta.options.rate} requests/s, ${meta.options.attempts} attempts per agent`,
    `  requests  ${requestsLine(view.requests)}`,
  ];
  if (meta.waves) {
    const wave = meta.wave ?? 0;
    const waiting =
      meta.status === 'waiting_approval'
        ? ` — waiting for \`nova-fleet approve ${meta.id}\``
        : meta.waveDoneAt && meta.bakeMs
          ? ` — done, baking until ${new Date(meta.waveDoneAt + meta.bakeMs).toISOString()}`
          : '';
    lines.push(`  wave      ${wave + 1}/${meta.waves.length} (up to ${meta.waves[wave]} agents; targets ${meta.waves.join(' → ')})${waiting}`);
  }
  if (meta.startAt !== undefined || meta.window || meta.deadline !== undefined) {
    const parts = [
      meta.startAt !== undefined ? `from ${new Date(meta.startAt).toISOString()}` : '',
      meta.window ? `inside "${meta.window}"` : '',
      meta.deadline !== undefined ? `until ${new Date(meta.deadline).toISOString()}` : '',
      view.nextOpening !== undefined ? `— next opening ${new Date(view.nextOpening).toISOString()}` : '',
    ];
    lines.push(`  schedule  ${parts.filter(Boolean).join(' ')}`);
  }
  if (meta.verifyCmd) lines.push(`  verify    after each wave: ${meta.verifyCmd}`);
  if (meta.gate) {
    const { maxDrop, confidence, minCalls } = meta.gate;
    lines.push(`  gate      calls: completion may drop ${(maxDrop * 100).toFixed(1)} points at most (${Math.round(confidence * 100)}% confidence, ≥ ${minCalls} calls a cohort)`);
    for (const analysis of view.analyses ?? []) lines.push(`    ${gateLine(analysis)}`);
  }
  if (meta.authSchemes) lines.push(`  auth      ${Object.entries(meta.authSchemes).map(([org, scheme]) => `${org} ${scheme === 'bearer' ? 'Authorization: Bearer' : 'X-API-Key'}`).join(', ')}`);
  for (const [org, message] of Object.entries(meta.blockedOrgs ?? {})) {
    lines.push(`  blocked   org ${org}: the API refused its key (${message}); its agents wait — fix the key, then \`nova-fleet resume ${meta.id}\``);
  }
  if (meta.maxFailures !== undefined) lines.push(`  budget    ${counts.failed}/${meta.maxFailures} failures allowed${meta.autoRollback ? ', automatic rollback' : ''}${meta.autoRollbackId ? ` (${meta.autoRollbackId})` : ''}`);
  for (const note of view.attention) lines.push(`  attention ${note}`);
  if (view.topFailures.length > 0) {
    lines.push('  top failure reasons:');
    for (const f of view.topFailures) lines.push(`    ${String(f.count).padStart(6)}  ${f.reason}`);
  }
  return lines.join('\n');
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

const percent = (rate: number | undefined) => (rate === undefined ? '–' : `${(rate * 100).toFixed(1)}%`);

/** One wave's judgement in a line: the verdict, both cohorts' rates with their intervals, what it cost. */
export function gateLine(analysis: WaveAnalysis): string {
  const cohort = (c: WaveAnalysis['treated']) => `${percent(c.rate)}${c.interval ? ` [${percent(c.interval.low)}–${percent(c.interval.high)}]` : ''} of ${c.calls}`;
  const against = analysis.mode === 'control' ? 'control' : 'before';
  return `wave ${analysis.wave + 1}: ${analysis.verdict} — changed ${cohort(analysis.treated)}, ${against} ${cohort(analysis.control)}${analysis.test ? `, p ${formatP(analysis.test.pValue)}` : ''}; ${analysis.requests} request${analysis.requests === 1 ? '' : 's'}${analysis.truncated.length > 0 ? `, pages cut short in ${analysis.truncated.join(', ')}` : ''}`;
}

/** `598 (GET 300, PATCH 298) — 2.03 per changed agent`: what the batch cost the API's budget. */
export function requestsLine(requests: BatchView['requests']): string {
  const kinds = (['get', 'patch', 'list', 'calls'] as const).filter((kind) => requests[kind] > 0).map((kind) => `${kind === 'get' || kind === 'patch' ? kind.toUpperCase() : kind} ${requests[kind]}`);
  return `${requests.total}${kinds.length > 0 ? ` (${kinds.join(', ')})` : ''}${requests.perChanged !== undefined ? ` — ${requests.perChanged.toFixed(2)} per changed agent` : ''}`;
}
