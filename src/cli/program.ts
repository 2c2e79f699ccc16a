/**
 * The command line: commander parses, each command lives in its own file, and errors are mapped to
 * exit codes in one place (`main`). Only commands that work are listed.
 * Longer than 300 lines because it is the one table of every command and flag (as SPEC §6 is): split,
 * the flags a command takes would be spread over files.
 */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXIT_CODES, ExitError } from '../errors.js';
import { redisFailure } from '../ops/redis-errors.js';
import { VERSION } from '../package-info.js';
import { CONFIG_FILE, LOG_LEVELS } from '../names.js';
import { parseBudget, parseDuration, parseWaves } from '../batch/waves.js';
import { parseWindow } from '../batch/window.js';
import { createOutput, type Output } from './output.js';
import { agentStatuses, envNames, flagParser, parseHttpUrl, parseInstant, positiveNumber, rateNumber, positiveNumberOrZero, probability, wholeNumber } from './parsers.js';
// Types only: each command's module (and what it pulls in — BullMQ, ioredis, got, express, pino, zod)
// is loaded when that command runs, so `--help` or `status` does not pay for the dashboard or the engine.
import { ManifestRejected, type ManifestFlags } from '../ops/manifest-gate.js';
import type { MockApiFlags } from './mock-api.js';
import type { PlanFlags } from '../ops/plan.js';
import type { PlanShowFlags } from './plan-show.js';
import type { SelectFlags } from './select.js';
import type { RedisFlags } from '../ops/context.js';
import type { WorkFlags } from './actions.js';
import type { ResumeOptions } from '../ops/actions.js';
import type { DemoFlags } from './demo.js';
import type { DashboardFlags } from './dashboard.js';
import type { ReportFlags } from './report.js';
import type { RollbackFlags } from '../ops/rollback.js';
import type { AnalyzeFlags } from '../ops/analyze.js';
import { historyCommands } from './program-history.js';
import { addHelpTexts, unexpectedError } from './help-text.js';
import type { StatusFlags } from './status.js';
import type { SubmitFlags } from '../ops/submit.js';
import type { ApplyFlags } from '../ops/apply.js';
import type { WorkerFlags } from './worker.js';

/** What an action returns: an exit code for "the work ran but …" outcomes, or nothing for success. */
type ActionResult = number | void;

interface CommonOptions {
  json?: boolean;
}

/** How the key is sent, and which keys: the same two flags on every command that calls the API. */
const AUTH_OPTION = () => new Option('--auth <scheme>', 'how the key is sent: X-API-Key, then Bearer on a 401 (auto, the default), or only one').choices(['auto', 'x-api-key', 'bearer']);
const KEYS_OPTION = ['--keys <file>', 'org_id=key lines, one key per org (env NOVA_API_KEYS_FILE); NOVA_API_KEY is the key of the others'] as const;

export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('nova-fleet')
    .description('Change fleets of Nova AI agents safely: rate-limited, resumable, rollback-able bulk PATCHes.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    // A command's options are its own after its name (`plan show P --format markdown` is show's --format).
    .enablePositionalOptions()
    .exitOverride();

  /** Every command takes --json and runs through the same output and exit-code plumbing. */
  const command = (name: string, description: string) =>
    program
      .command(name)
      .description(description)
      .option('--json', 'machine-readable output on stdout')
      .option('--config <file>', `config file (default: ./${CONFIG_FILE} if present)`)
      .exitOverride();
  const act =
    <O extends CommonOptions>(fn: (options: O, out: Output, ...args: string[]) => Promise<ActionResult>) =>
    async (...args: unknown[]) => {
      // commander calls action(arg1, …, options, command)
      const options = args.at(-2) as O;
      const positional = args.slice(0, -2) as string[];
      const out = createOutput(Boolean(options.json));
      try {
        const code = await fn(options, out, ...positional);
        if (typeof code === 'number') setExitCode(code);
      } catch (error) {
        // A rejected manifest's report is the command's JSON result (its lines are on stderr already).
        if (error instanceof ManifestRejected && out.json) {
          const { report } = error;
          out.result('', { ok: false, issueCount: report.issueCount, issues: report.issues, summary: report.summary });
        }
        throw error;
      }
    };

  command('mock-api', 'run a local stand-in for the Nova API (tests, benchmarks, the demo)')
    .option('--port <n>', 'port to listen on (0 = any free port)', wholeNumber(0, 65535), 4010)
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--agents <n>', 'number of generated agents', wholeNumber(1), 100)
    .option('--orgs <n>', 'number of organisations', wholeNumber(1), 3)
    .option('--seed <n>', 'seed of the generated fleet and of the fault dice', wholeNumber(0), 1)
    .option('--prompt-bytes <n>', 'approximate size of each generated prompt', wholeNumber(0), 3000)
    .option('--api-key <key>', 'the key the mock accepts (X-API-Key or Bearer)', 'mock-key')
    .option('--rate-limit <n>', 'requests per second before 429 (0 = unlimited)', positiveNumberOrZero, 0)
    .addOption(new Option('--retry-after <format>', 'how 429 says when to come back').choices(['seconds', 'date']).default('seconds'))
    .option('--latency <ms>', 'fixed delay before every reply', wholeNumber(0), 0)
    .option('--fail-rate <p>', 'probability of a 500/502/503 reply', probability, 0)
    .option('--drop-before <p>', 'probability a connection is dropped before the request is applied', probability, 0)
    .option('--drop-after <p>', 'probability a PATCH is applied and its reply then lost', probability, 0)
    .option('--slow-rate <p>', 'probability of a slow reply', probability, 0)
    .option('--slow-ms <ms>', 'extra delay of a slow reply', wholeNumber(0), 2000)
    .option('--fail-agents <list>', 'agents that always answer a status, e.g. ID=422,ID2=500', agentStatuses)
    .option('--org-keys', 'every org its own key (<api-key>-N); another org\'s key answers 403')
    .option('--read-only-keys <orgs>', 'orgs whose key may only read (PATCH answers 403), comma-separated', (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .addOption(new Option('--auth-scheme <scheme>', 'the header the mock accepts').choices(['x-api-key', 'bearer', 'both']).default('both'))
    .option('--calls-per-min <n>', 'simulated calls per minute per agent (GET /org/ID/calls); 0 = none', positiveNumberOrZero, 0)
    .option('--bad-marker <text>', 'a call completes 60% of the time instead of 90% while its agent\'s config holds this text')
    .option('--call-ms <ms>', 'how long each simulated call lasts', wholeNumber(1), 2000)
    .action(act(async (o: CommonOptions & MockApiFlags, out) => {
      const { mockApiCommand, mockOptionsFromFlags } = await import('./mock-api.js');
      return mockApiCommand(mockOptionsFromFlags(o), out);
    }));

  const manifestFlags = (cmd: Command) =>
    cmd
      .addOption(new Option('--format <format>', 'manifest format (default: from the extension)').choices(['csv', 'json', 'ndjson']))
      .option('--allow-files-outside', "allow $file/$template paths outside the manifest's folder")
      .option('--allow-unknown-keys', "let keys of llm_config, voice_config… that the vendor's SDK does not list through (they are usually typos)");

  manifestFlags(command('validate', 'parse and validate a manifest or a migration module only (no Redis, no network); exit 0 or 2').argument('<manifest>', 'CSV, JSON or NDJSON file, or a migration module (.mjs, .js, .ts)'))
    .action(act(async (o: CommonOptions & ManifestFlags, out, file) => (await import('./validate.js')).validateCommand(file!, o, out)));

  manifestFlags(command('plan', 'dry run: read every agent (GET only), print per-field diffs; --out writes the plan for apply').argument('<manifest>', 'CSV, JSON or NDJSON file, or a migration module (.mjs, .js, .ts)'))
    .option('--out <file>', "write the plan — every agent's diff, sealed — for `apply`")
    .option('--rate <n>', 'API requests per second (default 10)', rateNumber)
    .option('--concurrency <n>', 'requests in flight (default 8)', wholeNumber(1, 1000))
    .addOption(AUTH_OPTION()).option(...KEYS_OPTION)
    .action(act(async (o: CommonOptions & PlanFlags, out, file) => (await import('./plan.js')).planCommand(file!, o, out)))
    .enablePositionalOptions()
    .command('show')
    .description('a saved plan for review: identical diffs once, with their agent count (--format markdown for a review comment)')
    .argument('<plan>', 'a plan file written by plan --out')
    .addOption(new Option('--format <format>', 'text (default) or markdown').choices(['text', 'markdown']))
    .option('--json', 'machine-readable output on stdout')
    .action(act(async (o: CommonOptions & PlanShowFlags, out, file) => (await import('./plan-show.js')).planShowCommand(file!, o, out)));

  const repeatable = (value: string, previous: string[] = []) => [...previous, value];
  command('select', 'list the agents of named orgs that match, as a manifest skeleton (org_id,agent_id rows)')
    .option('--org <org>', 'an org to select from (repeatable; orgs are always named)', repeatable)
    .addOption(new Option('--type <type>', 'only agents of this type').choices(['voice', 'chat', 'video']))
    .option('--search <text>', 'only agents whose name holds this text (case-insensitive)')
    .option('--where <path=value>', 'only agents whose PATH (e.g. llm_config.model) equals VALUE (JSON, else text); repeatable; GETs each listed agent', repeatable)
    .option('--out <file>', 'write the rows here instead of stdout')
    .addOption(new Option('--format <format>', 'csv (default; ndjson for an --out ending in .ndjson)').choices(['csv', 'ndjson']))
    .option('--rate <n>', 'API requests per second (default 10)', rateNumber)
    .option('--concurrency <n>', 'GETs in flight for --where (default 8)', wholeNumber(1, 1000))
    .addOption(AUTH_OPTION()).option(...KEYS_OPTION)
    .addOption(new Option('--all-orgs').hideHelp())
    .action(act(async (o: CommonOptions & SelectFlags, out) => (await import('./select.js')).selectCommand(o, out)));

  const prefixFlag = (cmd: Command) => cmd.option('--prefix <prefix>', 'Redis key prefix (env NOVA_FLEET_PREFIX, default nova-fleet)');
  /** A command that acts: its actor (NOVA_FLEET_ACTOR, else user@host) and --reason go to the audit log. */
  const acted = (cmd: Command) => prefixFlag(cmd).option('--reason <text>', 'why: recorded with the action and its actor in the audit log');
  /** The calls gate's rule (SPEC §14): `submit`/`run`/`apply` set it, `analyze` may judge by another. */
  const gateRule = (cmd: Command) =>
    cmd
      .option('--max-drop <points>', 'calls gate: the largest drop in completion rate tolerated, in percentage points (default 5)', positiveNumberOrZero)
      .option('--confidence <p>', 'calls gate: how sure the test must be to call a drop (default 0.95)', probability)
      .option('--min-calls <n>', 'calls gate: fewer calls in either cohort is too few to judge (default 100)', wholeNumber(1))
      .option('--gate-max-pages <n>', 'calls gate: the most pages of 100 calls read per org per judgement (default 50)', wholeNumber(1));
  const submitFlags = (cmd: Command, argument: [string, string] = ['<manifest>', 'CSV, JSON or NDJSON file']) =>
    gateRule(acted(manifestFlags(cmd.argument(...argument))))
      .option('--batch <id>', 'batch id (default: generated, e.g. 2026-11-29-prompt-v2-7k2f); the same id twice enqueues nothing new')
      .option('--new', 'a new batch even if this manifest (same content) already has one; without it a re-run attaches to its unfinished batch, and a finished one is refused')
      .option('--journal <file>', 'the local journal of originals (default .nova-fleet/BATCH.journal.ndjson); a batch Redis lost is rebuilt from it on a re-run')
      .option('--no-journal', 'keep originals in Redis only')
      .option('--no-preflight', 'skip the one GET per org that checks its key before the batch is created')
      .option('--key-rate <n>', 'requests per second for each API key used, shared by every batch on it (default: the highest --rate of its running batches)', rateNumber)
      .option('--rate <n>', 'API requests per second shared by every worker of the batch (default 10)', rateNumber)
      .option('--write-rate <n>', 'PATCHes per second at most, inside --rate, shared by every batch on the API key (for APIs whose write limit is below their read limit)', rateNumber)
      .option('--concurrency <n>', 'in-flight requests of the in-process worker (default 8)', wholeNumber(1, 1000))
      .option('--attempts <n>', 'attempts per agent for retryable failures (default 6)', wholeNumber(1, 100))
      .option('--waves <list>', 'cumulative wave targets, e.g. 1,5%,25%,100%; a wave starts when the previous one finished', flagParser(parseWaves))
      .option('--bake <duration>', 'wait between waves (30s, 10m, 1h)', flagParser(parseDuration))
      .option('--approve', 'pause after each wave until `nova-fleet approve BATCH`')
      .option('--four-eyes', "with --approve: the batch's submitter may not approve its waves")
      .option('--max-failures <n|p%>', "error budget: N agents, or P% of the batch's agents; exceeded → halted", flagParser(parseBudget))
      .option('--auto-rollback', 'on an error-budget or calls-gate halt, roll back what was applied')
      .addOption(new Option('--gate <kind>', "judge each wave by its agents' calls against the agents not yet changed (SPEC §14); default bake 10m").choices(['calls']))
      .option('--gate-timeout <duration>', 'calls gate: how long after a wave to wait for enough calls before halting analysis_inconclusive (default 3 × bake)', flagParser(parseDuration))
      .option('--start-at <iso>', 'no request before this time (ISO 8601)', flagParser(parseInstant))
      .option('--window <spec>', 'requests only inside this window, e.g. "Sat,Sun 02:00-04:00 Europe/Berlin" (days optional)', flagParser((text) => parseWindow(text).text))
      .option('--deadline <iso>', 'past this time, agents not yet attempted become skipped (ISO 8601)', flagParser(parseInstant))
      .option('--allow-overrun', 'submit even when the batch cannot finish before its --deadline at its rate (refused otherwise, exit 2)')
      .option('--verify-cmd <cmd>', 'run after each wave (NOVA_FLEET_BATCH, NOVA_FLEET_WAVE in its environment); non-zero halts')
      .option('--verify-env <names>', "variables (comma-separated, repeatable) the verify command gets from its worker's environment; otherwise only PATH, HOME, LANG, TZ… and NOVA_FLEET_BATCH/WAVE", (value: string, previous?: string[]) => {
        try {
          return envNames(value, previous);
        } catch (error) {
          throw new InvalidArgumentError((error as Error).message);
        }
      })
      .option('--notify <url>', 'POST a JSON event on wave done, halt and completion (no redirects, 2 s timeout, 3 tries)', flagParser(parseHttpUrl))
      .option('--outage-halt <seconds>', 'halt (api_unreachable; agents stay pending, `resume` continues) when no request succeeds for this long while errors go on (default 60)', positiveNumber)
      .addOption(AUTH_OPTION()).option(...KEYS_OPTION);

  submitFlags(command('submit', 'validate, create the batch and enqueue its jobs; print the batch id')).action(
    act(async (o: CommonOptions & SubmitFlags, out, file) => (await import('./submit.js')).submitCommand(file!, o, out)),
  );

  submitFlags(command('run', 'submit plus an in-process worker with a live progress bar, until the batch ends'))
    .option('--metrics-port <n>', 'serve Prometheus metrics on http://127.0.0.1:N/metrics', wholeNumber(0, 65535))
    .action(
    act(async (o: CommonOptions & SubmitFlags, out, file) => (await import('./run.js')).runCommand(file!, o, out)),
  );

  submitFlags(command('apply', 'submit exactly a plan written by `plan --out`: agents changed since it are conflicts, left alone'), ['<plan>', 'a plan file (plan MANIFEST --out PLAN.json)'])
    .option('--run', 'work the batch here with progress until it ends (as `run`)')
    .option('--force', 'apply planned agents even where they changed since the plan')
    .option('--max-age <duration>', 'refuse a plan older than this (default 24h)', flagParser(parseDuration))
    .option('--freshness <duration>', 'PATCH a planned agent without a GET when a list row this recent shows it unchanged since the plan (default 30s)', flagParser(parseDuration))
    .option('--metrics-port <n>', 'with --run: serve Prometheus metrics on http://127.0.0.1:N/metrics', wholeNumber(0, 65535))
    .action(act(async (o: CommonOptions & ApplyFlags, out, file) => (await import('./apply.js')).applyCommand(file!, o, out)));

  prefixFlag(command('worker', 'process jobs until SIGINT/SIGTERM, then finish in-flight requests and exit 0'))
    .option('--concurrency <n>', 'in-flight requests of this process (default 8)', wholeNumber(1, 1000))
    .option('--queue <batch...>', 'only these batches (default: every active batch)')
    .option('--grace <seconds>', 'after a signal, time for in-flight requests before they are aborted (default 30)', wholeNumber(0))
    .addOption(new Option('--log-format <format>', 'log lines as JSON (default when stdout is not a terminal) or readable').choices(['json', 'pretty']))
    .addOption(new Option('--log-level <level>', 'default info').choices([...LOG_LEVELS]))
    .option('--metrics-port <n>', 'serve Prometheus metrics on http://127.0.0.1:N/metrics', wholeNumber(0, 65535))
    .option('--run-verify', "this worker may run batches' --verify-cmd commands (read from Redis: opt in only where that is safe)")
    .option('--lock-duration <ms>', "a dead worker's jobs are picked up by another after about this long (default 30000)", wholeNumber(1000))
    .option('--journal <file>', 'also append every before snapshot (and change) to this local file: `rollback --journal FILE` restores from it if Redis loses a batch')
    .addOption(AUTH_OPTION()).option(...KEYS_OPTION)
    .action(act(async (o: CommonOptions & WorkerFlags, out) => (await import('./worker.js')).workerCommand(o, out)));

  prefixFlag(command('status', 'one batch (counts, rate, ETA, top failure reasons) or all batches').argument('[batch]', 'batch id'))
    .option('--watch', 'refresh until the batch ends')
    .option('--interval <seconds>', 'refresh interval with --watch (default 2)', positiveNumber)
    .action(act(async (o: CommonOptions & StatusFlags, out, batch) => (await import('./status.js')).statusCommand(batch, o, out)));

  prefixFlag(command('batches', 'list batches with status and counts')).action(act(async (o: CommonOptions & RedisFlags, out) => (await import('./status.js')).batchesCommand(o, out)));

  /** --run on resume, retry and approve: work the batch here afterwards, as `run` does. */
  const runFlags = (cmd: Command) =>
    cmd
      .option('--run', 'then work the batch here with progress until it ends (exit codes as `run`)')
      .option('--concurrency <n>', 'in-flight requests with --run (default 8)', wholeNumber(1, 1000))
      .addOption(AUTH_OPTION()).option(...KEYS_OPTION);

  acted(command('pause', 'stop a batch: no request starts after this returns (requests already sent finish)').argument('<batch>', 'batch id')).action(
    act(async (o: CommonOptions & RedisFlags, out, batch) => (await import('./actions.js')).pauseCommand(batch!, o, out)),
  );
  acted(command('cancel', 'cancel a batch: agents not yet started become skipped (`retry --skipped` finishes them)').argument('<batch>', 'batch id')).action(
    act(async (o: CommonOptions & RedisFlags, out, batch) => (await import('./actions.js')).cancelCommand(batch!, o, out)),
  );
  runFlags(acted(command('resume', 'resume a paused batch, or a halted one (bad credentials fixed, API back; error budget: with --override-budget or a higher --max-failures)').argument('<batch>', 'batch id')))
    .option('--override-budget', 'after an error-budget halt: go on with no budget')
    .option('--override-gate', 'after a calls-gate halt (calls_degraded, analysis_inconclusive): go on past that wave on purpose')
    .option('--max-failures <n>', 'after an error-budget halt: go on with this higher budget', wholeNumber(0))
    .action(act(async (o: CommonOptions & WorkFlags & ResumeOptions, out, batch) => (await import('./actions.js')).resumeCommand(batch!, o, out)));

  runFlags(acted(command('approve', 'let a batch waiting for approval (--approve) start its next wave').argument('<batch>', 'batch id'))).action(
    act(async (o: CommonOptions & WorkFlags, out, batch) => (await import('./actions.js')).approveCommand(batch!, o, out)),
  );
  runFlags(acted(command('retry', "re-enqueue a batch's failed agents (with --skipped: its skipped ones too)").argument('<batch>', 'batch id')))
    .option('--skipped', 'also the agents skipped by a cancel or a deadline (reopens a cancelled batch, lifts a passed deadline)')
    .option('--window <spec>', 'finish inside this window instead of the batch\'s, e.g. "Sun 02:00-04:00 Europe/Berlin"', flagParser((text) => parseWindow(text).text))
    .option('--deadline <iso>', 'a new deadline: past it, agents not yet attempted become skipped (ISO 8601)', flagParser(parseInstant))
    .option('--force', 'also the conflicts: agents someone else edited since their first attempt, now overwritten')
    .action(act(async (o: CommonOptions & WorkFlags & { skipped?: boolean; force?: boolean; window?: string; deadline?: number }, out, batch) => (await import('./actions.js')).retryCommand(batch!, o, out)));

  acted(command('rollback', "create a rollback batch restoring every agent the batch changed").argument('<batch>', 'batch id'))
    .option('--agents <file>', 'only these agents (CSV with org_id,agent_id columns)')
    .option('--force', 'restore agents changed by someone else since the batch too (otherwise: conflict)')
    .option('--run', 'apply it here with progress (otherwise workers apply it)')
    .option('--journal <file>', 'if Redis lost the batch, rebuild it from this local journal first (run/apply: .nova-fleet/BATCH.journal.ndjson; a worker: its --journal)')
    .option('--rate <n>', 'API requests per second (default: the batch\'s)', rateNumber)
    .option('--concurrency <n>', 'in-flight requests with --run (default 8)', wholeNumber(1, 1000))
    .option('-y, --yes', 'with --force: go ahead without the y/N question (needed without a terminal)')
    .addOption(AUTH_OPTION()).option(...KEYS_OPTION)
    .action(act(async (o: CommonOptions & RollbackFlags & { yes?: boolean }, out, batch) => (await import('./rollback.js')).rollbackCommand(batch!, o, (await import('./confirm.js')).confirming(out, o.yes))));

  prefixFlag(command('report', 'one row per agent: status, attempts, error, changed fields (json/ndjson: before and after)').argument('<batch>', 'batch id'))
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'json', 'ndjson']).default('csv'))
    .option('--out <file>', 'write to FILE instead of stdout')
    .action(act(async (o: CommonOptions & ReportFlags, out, batch) => (await import('./report.js')).reportCommand(batch!, o, out)));

  gateRule(prefixFlag(command('analyze', "a batch's waves judged by their calls (SPEC §14), and a judgement made now (by the batch's gate rule unless given); exit 1 if that one finds the changed agents degraded").argument('<batch>', 'batch id')))
    .option('--kept', 'only the judgements the batch kept: read no calls now')
    .option('--rate <n>', 'API requests per second for reading the calls (default 10)', rateNumber)
    .addOption(AUTH_OPTION()).option(...KEYS_OPTION)
    .action(act(async (o: CommonOptions & AnalyzeFlags, out, batch) => (await import('./analyze.js')).analyzeCommand(batch!, o, out)));

  historyCommands({ command, act, acted, prefixFlag, auth: AUTH_OPTION, keys: KEYS_OPTION });

  acted(command('prune', 'delete batches (and their snapshots) older than DAYS'))
    .requiredOption('--older-than <days>', 'age in days', wholeNumber(0))
    .option('-y, --yes', 'go ahead without the y/N question (needed without a terminal)')
    .action(act(async (o: CommonOptions & RedisFlags & { olderThan: number; yes?: boolean }, out) => (await import('./retention.js')).pruneCommand(o, out)));

  acted(command('export', "archive a batch's records and snapshots to gzip NDJSON").argument('<batch>', 'batch id').argument('<file>', 'archive to write'))
    .action(act(async (o: CommonOptions & RedisFlags, out, batch, file) => (await import('./retention.js')).exportCommand(batch!, file!, o, out)));

  acted(command('import', 'restore a batch from an export archive (inert: never active again)').argument('<file>', 'archive to read'))
    .option('--trust', "keep the archive's --verify-cmd and --notify URL (dropped otherwise: an archive is not trusted to run commands)")
    .option('-y, --yes', 'with --trust: go ahead without the y/N question (needed without a terminal)')
    .action(act(async (o: CommonOptions & RedisFlags & { trust?: boolean; yes?: boolean }, out, file) => (await import('./retention.js')).importCommand(file!, o, out)));

  prefixFlag(command('dashboard', 'web UI: bull-board for the queues and a live batch overview'))
    .option('--port <n>', 'port (default 8080; 0 = any free port)', wholeNumber(0, 65535))
    .option('--host <host>', 'interface to bind (default 127.0.0.1; anything else needs a token)')
    .option('--token <token>', 'required token (env NOVA_FLEET_DASHBOARD_TOKEN)')
    .option('--allow-actions', "let bull-board pause, clean, retry and add jobs (read-only otherwise); needs --token")
    .action(act(async (o: CommonOptions & DashboardFlags, out) => (await import('./dashboard.js')).dashboardCommand(o, out)));

  prefixFlag(command('demo', 'the whole story on embedded defaults: mock API, Redis, a prompt rollout, its status'))
    .option('--latency <ms>', 'latency of the mock API (default 20)', wholeNumber(0))
    .action(act(async (o: CommonOptions & DemoFlags, out) => (await import('./demo.js')).demoCommand(o, out)));

  command('config', 'print the resolved configuration, secrets masked')
    .option('--prefix <prefix>', 'Redis key prefix (env NOVA_FLEET_PREFIX)')
    .action(act(async (o: CommonOptions & { prefix?: string; config?: string }, out) => (await import('./config-command.js')).configCommand(o, out)));

  command('completion', 'a completion script for your shell: eval "$(nova-fleet completion bash)"')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(['bash', 'zsh', 'fish']))
    .action(act(async (_o: CommonOptions, out, shell) => out.result((await import('./completion.js')).completionScript(program, shell as 'bash'), { shell })));

  addHelpTexts(program);
  return program;
}

/** Run the CLI; returns the process exit code. Only the bin calls process.exit. */
export async function main(argv: string[], stderr: NodeJS.WritableStream = process.stderr): Promise<number> {
  let exitCode: number = EXIT_CODES.ok;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version are successes; every other commander complaint is bad usage (it has printed it).
      return ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(error.code)
        ? EXIT_CODES.ok
        : EXIT_CODES.usage;
    }
    const known = error instanceof ExitError ? error : redisFailure(error);
    if (known) {
      stderr.write(`nova-fleet: ${known.message}\n`);
      if (known.hint) stderr.write(`hint: ${known.hint}\n`);
      return known.exitCode;
    }
    stderr.write(unexpectedError(error, argv.slice(2)));
    return EXIT_CODES.failed;
  }
}
