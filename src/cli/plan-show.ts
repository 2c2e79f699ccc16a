/**
 * `nova-fleet plan show PLAN [--format text|markdown] [--json]` (issue 30): a saved plan read for review
 * — checked as `apply` checks it (its seal, its schema), then grouped (plan/plan-groups.ts): identical
 * diffs once with their agent count. `--format markdown` is ready to paste as a review comment.
 */
import { PlanFileError, readPlanFile } from '../plan/plan-file.js';
import { UsageError } from '../errors.js';
import { PlanGrouper, type PlanGroups } from '../plan/plan-groups.js';
import type { PlanHeader } from '../plan/plan-file.js';
import type { FieldChange } from '../patch/desired.js';
import { requireRegularFile } from '../user-files.js';
import { formatChange, formatValue } from './format.js';
import type { Output } from './output.js';

export interface PlanShowFlags {
  format?: 'text' | 'markdown';
}

export async function planShowCommand(file: string, flags: PlanShowFlags, out: Output): Promise<void> {
  await requireRegularFile(file, 'plan');
  const grouper = new PlanGrouper();
  let header: PlanHeader;
  try {
    ({ header } = await readPlanFile(file, (agent) => grouper.add(agent)));
  } catch (error) {
    if (error instanceof PlanFileError) throw new UsageError(error.message, 'a plan is shown only whole and sealed, as apply would take it');
    throw error;
  }
  const groups = grouper.result();
  out.result(flags.format === 'markdown' ? planMarkdown(file, header, groups) : planText(file, header, groups), { plan: file, header, ...groups });
}

function countsLine(g: PlanGroups): string {
  const c = g.counts;
  const rest = [c.missing ? `${c.missing} missing` : '', c.invalid ? `${c.invalid} cannot apply` : '', c.skipped ? `${c.skipped} skipped by a precondition` : '', c.error ? `${c.error} unreadable` : ''].filter(Boolean);
  return `${g.agents} agent${g.agents === 1 ? '' : 's'} — ${c.change} would change, ${c.unchanged} unchanged${rest.length ? `, ${rest.join(', ')}` : ''}`;
}

const others = (n: number, named: number) => (n > named ? ` and ${n - named} more` : '');

export function planText(file: string, header: PlanHeader, g: PlanGroups): string {
  const lines = [`plan ${file}: ${header.manifest} (sha256 ${header.manifest_digest.slice(0, 12)}…), made ${header.created_at}`, countsLine(g)];
  g.groups.forEach((group, i) => {
    lines.push('', `${i + 1}. ${group.agents} agent${group.agents === 1 ? '' : 's'}, ${group.changes.length} field${group.changes.length === 1 ? '' : 's'}:`);
    for (const change of group.changes) lines.push(`     ${formatChange(change)}`);
    lines.push(`     ${group.named.join(', ')}${others(group.agents, group.named.length)}`);
  });
  if (g.ungrouped) lines.push('', `… and ${g.ungrouped} more changing agents whose diffs all differ (the plan file has each)`);
  if (g.problems.length) {
    lines.push('', 'not changeable:');
    for (const p of g.problems.slice(0, 20)) lines.push(`  line ${p.line} ${p.agent}: ${p.status}${p.error ? ` — ${p.error}` : ''}`);
  }
  lines.push('', `apply exactly it: nova-fleet apply ${file}`);
  return lines.join('\n');
}

/** A value in a table cell: inline code, no pipes or line breaks to break the table, bounded. */
function cell(value: unknown): string {
  const text = value === undefined ? '(absent)' : formatValue(value);
  return `\`${text.replace(/`/g, "'").replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ')}\``;
}

function changeRow(change: FieldChange): string {
  return `| \`${change.path}\` | ${cell(change.before)} | ${cell(change.after)} |`;
}

export function planMarkdown(file: string, header: PlanHeader, g: PlanGroups): string {
  const lines = [`### nova-fleet plan \`${file.replace(/`/g, "'")}\``, '', `\`${header.manifest.replace(/`/g, "'")}\` (sha256 \`${header.manifest_digest.slice(0, 12)}\`), made ${header.created_at}: **${countsLine(g)}**.`];
  g.groups.forEach((group, i) => {
    lines.push('', `#### ${i + 1}. ${group.agents} agent${group.agents === 1 ? '' : 's'}`, '', '| field | before | after |', '|---|---|---|', ...group.changes.map(changeRow));
    lines.push('', `<sub>${group.named.map((a) => `\`${a}\``).join(', ')}${others(group.agents, group.named.length)}</sub>`);
  });
  if (g.ungrouped) lines.push('', `… and ${g.ungrouped} more changing agents whose diffs all differ (the plan file has each).`);
  if (g.problems.length) {
    lines.push('', '#### Not changeable', '', '| line | agent | status | why |', '|---|---|---|---|');
    for (const p of g.problems.slice(0, 50)) lines.push(`| ${p.line} | \`${p.agent}\` | ${p.status} | ${(p.error ?? '').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ').slice(0, 200)} |`);
  }
  lines.push('', `Apply exactly this plan: \`nova-fleet apply ${file.replace(/`/g, "'")}\``);
  return lines.join('\n');
}
