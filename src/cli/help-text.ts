/**
 * What each command's `--help` ends with (issue 30, SPEC §17): examples an operator can copy, and what
 * its exit codes mean (errors.ts EXIT_CODES; the numbers every command shares, the 1 that differs).
 */
import type { Command } from 'commander';
import { commandPaths } from './command-tree.js';
import { VERSION } from '../package-info.js';

interface Help {
  examples: string[];
  /** What exit 1 means for this command; none: the command does not exit 1. */
  one?: string;
}

const WORKED = 'some agents failed or conflicted, or a gate halted the batch';

const HELP: Record<string, Help> = {
  'mock-api': { examples: ['nova-fleet mock-api --agents 500 --orgs 5 --latency 20', 'nova-fleet mock-api --port 0 --json --calls-per-min 60'] },
  validate: { examples: ['nova-fleet validate jobs/prompt-rollout.json', 'nova-fleet validate jobs/migrate-vad.mjs --json'] },
  plan: { examples: ['nova-fleet plan jobs/prompt-rollout.json', 'nova-fleet plan jobs/prompt-rollout.json --out plan.json', 'nova-fleet plan show plan.json --format markdown'], one: 'some agents of the manifest are missing' },
  'plan show': { examples: ['nova-fleet plan show plan.json', 'nova-fleet plan show plan.json --format markdown > review.md'] },
  select: { examples: ['nova-fleet select --org ORG_ID --type voice --where llm_config.model=gpt-4o --out agents.csv'] },
  submit: { examples: ['nova-fleet submit jobs/prompt-rollout.json --waves 10%,50%,100% --bake 10m', 'nova-fleet submit jobs/prompt-rollout.json --window "Sat 01:00-05:00 Europe/Berlin" --deadline 2026-12-06T05:00:00+01:00'] },
  run: { examples: ['nova-fleet run jobs/prompt-rollout.json', 'nova-fleet run jobs/prompt-rollout.json --waves 10%,100% --gate calls --auto-rollback'], one: WORKED },
  apply: { examples: ['nova-fleet apply plan.json --run', 'nova-fleet apply plan.json --max-age 24h'], one: WORKED },
  worker: { examples: ['nova-fleet worker --concurrency 16', 'nova-fleet worker --queue BATCH_ID --run-verify --metrics-port 9464'] },
  status: { examples: ['nova-fleet status', 'nova-fleet status BATCH_ID --watch', 'nova-fleet status BATCH_ID --json'] },
  batches: { examples: ['nova-fleet batches', 'nova-fleet batches --json'] },
  pause: { examples: ['nova-fleet pause BATCH_ID --reason "incident 42"'] },
  cancel: { examples: ['nova-fleet cancel BATCH_ID --reason "wrong prompt"'] },
  resume: { examples: ['nova-fleet resume BATCH_ID', 'nova-fleet resume BATCH_ID --override-gate --reason "calls were a holiday dip"'], one: `with --run: ${WORKED}` },
  approve: { examples: ['nova-fleet approve BATCH_ID --reason "wave 1 calls look fine"'], one: `with --run: ${WORKED}` },
  retry: { examples: ['nova-fleet retry BATCH_ID', 'nova-fleet retry BATCH_ID --skipped --run'], one: `with --run: ${WORKED}` },
  rollback: { examples: ['nova-fleet rollback BATCH_ID --run', 'nova-fleet rollback BATCH_ID --agents agents.csv', 'nova-fleet rollback BATCH_ID --force --yes'], one: `with --run: ${WORKED}` },
  report: { examples: ['nova-fleet report BATCH_ID > report.csv', 'nova-fleet report BATCH_ID --format ndjson --out report.ndjson'] },
  analyze: { examples: ['nova-fleet analyze BATCH_ID', 'nova-fleet analyze BATCH_ID --kept --json'], one: 'the judgement made now finds the changed agents degraded' },
  history: { examples: ['nova-fleet history ORG_ID/AGENT_ID', 'nova-fleet history ORG_ID/AGENT_ID --json'] },
  restore: { examples: ['nova-fleet restore --to 2026-12-01T09:00:00Z --org ORG_ID --run', 'nova-fleet restore --to BATCH_ID --agents agents.csv --yes'], one: `with --run: ${WORKED}` },
  drift: { examples: ['nova-fleet drift BATCH_ID', 'nova-fleet drift BATCH_ID --every 6h --notify https://hooks.example.com/nova', 'nova-fleet drift --stop BATCH_ID'], one: 'an agent the batch changed differs now' },
  audit: { examples: ['nova-fleet audit --since 24h', 'nova-fleet audit --batch BATCH_ID --json'] },
  prune: { examples: ['nova-fleet prune --older-than 30', 'nova-fleet prune --older-than 30 --yes   # without a terminal'] },
  export: { examples: ['nova-fleet export BATCH_ID batch.ndjson.gz'] },
  import: { examples: ['nova-fleet import batch.ndjson.gz', 'nova-fleet import batch.ndjson.gz --trust --yes'] },
  dashboard: { examples: ['nova-fleet dashboard --port 8080', 'NOVA_FLEET_DASHBOARD_TOKEN=… nova-fleet dashboard --host 0.0.0.0'] },
  demo: { examples: ['nova-fleet demo'] },
  config: { examples: ['nova-fleet config', 'nova-fleet config --json'] },
  completion: { examples: ['eval "$(nova-fleet completion bash)"', 'nova-fleet completion fish > ~/.config/fish/completions/nova-fleet.fish'] },
};

export function helpText(path: string): string {
  const help = HELP[path];
  if (!help) return '';
  return [
    '',
    'Examples:',
    ...help.examples.map((e) => `  ${e}`),
    '',
    'Exit codes:',
    '  0  done',
    ...(help.one ? [`  1  ${help.one}`] : []),
    '  2  bad usage or input, or not confirmed: nothing was done',
    '  3  Redis or the API could not be reached (or refused the key)',
  ].join('\n');
}

/** Every command's (and subcommand's) help gets its examples and exit codes. */
export function addHelpTexts(program: Command): void {
  for (const { path, command } of commandPaths(program).slice(1)) {
    const text = helpText(path);
    if (text) command.addHelpText('after', text);
  }
}

/** The commands without help text (a test keeps this empty). */
export function commandsWithoutHelp(program: Command): string[] {
  return commandPaths(program)
    .slice(1)
    .map(({ path }) => path)
    .filter((path) => !HELP[path]);
}

/**
 * What an unexpected error prints (issue 30): what happened, then what a report needs — the versions,
 * the command (its flags' values left out: they may be secrets or customer data) — and where it goes.
 */
export function unexpectedError(error: unknown, argv: readonly string[], versions = { nova: VERSION, node: process.version, platform: `${process.platform}-${process.arch}` }): string {
  const what = error instanceof Error ? (error.stack ?? error.message) : String(error);
  const command = argv.filter((word, i) => !word.startsWith('-') && (i === 0 || !argv[i - 1]!.startsWith('--'))).slice(0, 2).join(' ');
  return [
    `nova-fleet: an unexpected error — nova-fleet did not expect this, and it is a defect to fix: ${what}`,
    'Please report it with:',
    `  versions  nova-fleet ${versions.nova}, Node ${versions.node}, ${versions.platform}`,
    `  command   nova-fleet ${command}${argv.some((w) => w.startsWith('-')) ? ' [flags]' : ''}`,
    '  and what you did just before; the output above; `nova-fleet status BATCH --json` if a batch was involved',
    '  (leave out API keys and agents\' prompts)',
    '',
  ].join('\n');
}
