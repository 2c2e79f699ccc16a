/**
 * The command line: commander parses, each command lives in its own file, and errors are mapped to
 * exit codes in one place (`main`). Only commands that work are listed.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CONFIG_FILE, loadConfigFile, printableConfig, resolveConfig } from '../config.js';
import { EXIT_CODES, ExitError } from '../errors.js';
import { VERSION } from '../package-info.js';
import type { ManifestFlags } from './manifest-gate.js';
import { mockApiCommand, mockOptionsFromFlags, type MockApiFlags } from './mock-api.js';
import { planCommand, type PlanFlags } from './plan.js';
import { validateCommand } from './validate.js';
import type { RedisFlags } from './context.js';
import { approveCommand, cancelCommand, pauseCommand, resumeCommand, retryCommand } from './control.js';
import { parseBudget, parseDuration, parseWaves } from '../engine/rollout-plan.js';
import { parseWindow } from '../engine/window.js';
import { LOG_LEVELS } from '../log.js';
import type { ResumeOptions } from '../engine/control.js';
import { demoCommand, type DemoFlags } from './demo.js';
import { dashboardCommand, type DashboardFlags } from './dashboard.js';
import { runCommand } from './run.js';
import { reportCommand, type ReportFlags } from './report.js';
import { exportCommand, importCommand, pruneCommand } from './retention.js';
import { rollbackCommand, type RollbackFlags } from './rollback.js';
import { batchesCommand, statusCommand, type StatusFlags } from './status.js';
import { submitCommand, type SubmitFlags } from './submit.js';
import { workerCommand, type WorkerFlags } from './worker.js';
import { createOutput, type Output } from './output.js';
import { agentStatuses, positiveNumber, probability, wholeNumber } from './parsers.js';


/** What an action returns: an exit code for "the work ran but …" outcomes, or nothing for success. */
type ActionResult = number | void;

interface CommonOptions {
  json?: boolean;
}

export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('nova-fleet')
    .description('Change fleets of Nova AI agents safely: rate-limited, resumable, rollback-able bulk PATCHes.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
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
      const code = await fn(options, createOutput(Boolean(options.json)), ...positional);
      if (typeof code === 'number') setExitCode(code);
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
    .action(act(async (o: CommonOptions & MockApiFlags, out) => mockApiCommand(mockOptionsFromFlags(o), out)));

  const manifestFlags = (cmd: Command) =>
    cmd
      .addOption(new Option('--format <format>', 'manifest format (default: from the extension)').choices(['csv', 'json', 'ndjson']))
      .option('--allow-files-outside', "allow $file/$template paths outside the manifest's folder");

  manifestFlags(command('validate', 'parse and validate a manifest only (no Redis, no network); exit 0 or 2').argument('<manifest>', 'CSV, JSON or NDJSON file'))
    .action(act(async (o: CommonOptions & ManifestFlags, out, file) => validateCommand(file!, o, out)));

  manifestFlags(command('plan', 'dry run: read every agent (GET only), print per-field diffs; writes nothing').argument('<manifest>', 'CSV, JSON or NDJSON file'))
    .option('--out <file>', "write every agent's diff as NDJSON")
    .option('--rate <n>', 'API requests per second (default 10)', positiveNumber)
    .option('--concurrency <n>', 'requests in flight (default 8)', wholeNumber(1, 1000))
    .addOption(new Option('--auth <scheme>', 'how the key is sent').choices(['x-api-key', 'bearer']))
    .action(act(async (o: CommonOptions & PlanFlags, out, file) => planCommand(file!, o, out)));

  const prefixFlag = (cmd: Command) => cmd.option('--prefix <prefix>', 'Redis key prefix (env NOVA_FLEET_PREFIX, default nova-fleet)');
  const submitFlags = (cmd: Command) =>
    prefixFlag(manifestFlags(cmd.argument('<manifest>', 'CSV, JSON or NDJSON file')))
      .option('--batch <id>', 'batch id (default: generated, e.g. 2026-11-29-prompt-v2-7k2f); the same id twice enqueues nothing new')
      .option('--rate <n>', 'API requests per second shared by every worker of the batch (default 10)', positiveNumber)
      .option('--concurrency <n>', 'in-flight requests of the in-process worker (default 8)', wholeNumber(1, 1000))
      .option('--attempts <n>', 'attempts per agent for retryable failures (default 6)', wholeNumber(1, 100))
      .option('--waves <list>', 'cumulative wave targets, e.g. 1,5%,25%,100%; a wave starts when the previous one finished', flagParser(parseWaves))
      .option('--bake <duration>', 'wait between waves (30s, 10m, 1h)', flagParser(parseDuration))
      .option('--approve', 'pause after each wave until `nova-fleet approve BATCH`')
      .option('--max-failures <n|p%>', "error budget: N agents, or P% of the batch's agents; exceeded → halted", flagParser(parseBudget))
      .option('--auto-rollback', 'on an error-budget halt, roll back what was applied')
      .option('--start-at <iso>', 'no request before this time (ISO 8601)', flagParser(parseInstant))
      .option('--window <spec>', 'requests only inside this window, e.g. "Sat,Sun 02:00-04:00 Europe/Berlin" (days optional)', flagParser((text) => parseWindow(text).text))
      .option('--deadline <iso>', 'past this time, agents not yet attempted become skipped (ISO 8601)', flagParser(parseInstant))
      .option('--verify-cmd <cmd>', 'run after each wave (NOVA_FLEET_BATCH, NOVA_FLEET_WAVE in its environment); non-zero halts')
      .option('--notify <url>', 'POST a JSON event on wave done, halt and completion', flagParser(parseHttpUrl))
      .addOption(new Option('--auth <scheme>', 'how the key is sent').choices(['x-api-key', 'bearer']));

  submitFlags(command('submit', 'validate, create the batch and enqueue its jobs; print the batch id')).action(
    act(async (o: CommonOptions & SubmitFlags, out, file) => submitCommand(file!, o, out)),
  );

  submitFlags(command('run', 'submit plus an in-process worker with a live progress bar, until the batch ends'))
    .option('--metrics-port <n>', 'serve Prometheus metrics on http://127.0.0.1:N/metrics', wholeNumber(0, 65535))
    .action(
    act(async (o: CommonOptions & SubmitFlags, out, file) => runCommand(file!, o, out)),
  );

  prefixFlag(command('worker', 'process jobs until SIGINT/SIGTERM, then finish in-flight requests and exit 0'))
    .option('--concurrency <n>', 'in-flight requests of this process (default 8)', wholeNumber(1, 1000))
    .option('--queue <batch...>', 'only these batches (default: every active batch)')
    .option('--grace <seconds>', 'after a signal, time for in-flight requests before they are aborted (default 30)', wholeNumber(0))
    .addOption(new Option('--log-format <format>', 'log lines as JSON (default when stdout is not a terminal) or readable').choices(['json', 'pretty']))
    .addOption(new Option('--log-level <level>', 'default info').choices([...LOG_LEVELS]))
    .option('--metrics-port <n>', 'serve Prometheus metrics on http://127.0.0.1:N/metrics', wholeNumber(0, 65535))
    .option('--run-verify', "this worker may run batches' --verify-cmd commands (read from Redis: opt in only where that is safe)")
    .option('--lock-duration <ms>', "a dead worker's jobs are picked up by another after about this long (default 30000)", wholeNumber(1000))
    .addOption(new Option('--auth <scheme>', 'how the key is sent').choices(['x-api-key', 'bearer']))
    .action(act(async (o: CommonOptions & WorkerFlags, out) => workerCommand(o, out)));

  prefixFlag(command('status', 'one batch (counts, rate, ETA, top failure reasons) or all batches').argument('[batch]', 'batch id'))
    .option('--watch', 'refresh until the batch ends')
    .option('--interval <seconds>', 'refresh interval with --watch (default 2)', positiveNumber)
    .action(act(async (o: CommonOptions & StatusFlags, out, batch) => statusCommand(batch, o, out)));

  prefixFlag(command('batches', 'list batches with status and counts')).action(act(async (o: CommonOptions & RedisFlags, out) => batchesCommand(o, out)));

  prefixFlag(command('resume', 'resume a paused batch, or a halted one (bad credentials fixed; error budget: with --override-budget or a higher --max-failures)').argument('<batch>', 'batch id'))
    .option('--override-budget', 'after an error-budget halt: go on with no budget')
    .option('--max-failures <n>', 'after an error-budget halt: go on with this higher budget', wholeNumber(0))
    .action(act(async (o: CommonOptions & RedisFlags & ResumeOptions, out, batch) => resumeCommand(batch!, o, out)));

  for (const [name, description, fn] of [
    ['pause', 'stop new jobs of a batch from starting (in-flight requests finish)', pauseCommand],
    ['approve', 'let a batch waiting for approval (--approve) start its next wave', approveCommand],
    ['cancel', 'cancel a batch: agents not yet started become skipped', cancelCommand],
    ['retry', "re-enqueue a batch's failed agents", retryCommand],
  ] as const) {
    prefixFlag(command(name, description).argument('<batch>', 'batch id')).action(act(async (o: CommonOptions & RedisFlags, out, batch) => fn(batch!, o, out)));
  }

  prefixFlag(command('rollback', "create a rollback batch restoring every agent the batch changed").argument('<batch>', 'batch id'))
    .option('--agents <file>', 'only these agents (CSV with org_id,agent_id columns)')
    .option('--force', 'restore agents changed by someone else since the batch too (otherwise: conflict)')
    .option('--run', 'apply it here with progress (otherwise workers apply it)')
    .option('--rate <n>', 'API requests per second (default: the batch\'s)', positiveNumber)
    .option('--concurrency <n>', 'in-flight requests with --run (default 8)', wholeNumber(1, 1000))
    .addOption(new Option('--auth <scheme>', 'how the key is sent').choices(['x-api-key', 'bearer']))
    .action(act(async (o: CommonOptions & RollbackFlags, out, batch) => rollbackCommand(batch!, o, out)));

  prefixFlag(command('report', 'one row per agent: status, attempts, error, changed fields (json/ndjson: before and after)').argument('<batch>', 'batch id'))
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'json', 'ndjson']).default('csv'))
    .option('--out <file>', 'write to FILE instead of stdout')
    .action(act(async (o: CommonOptions & ReportFlags, out, batch) => reportCommand(batch!, o, out)));

  prefixFlag(command('prune', 'delete batches (and their snapshots) older than DAYS'))
    .requiredOption('--older-than <days>', 'age in days', wholeNumber(0))
    .action(act(async (o: CommonOptions & RedisFlags & { olderThan: number }, out) => pruneCommand(o, out)));

  prefixFlag(command('export', "archive a batch's records and snapshots to gzip NDJSON").argument('<batch>', 'batch id').argument('<file>', 'archive to write'))
    .action(act(async (o: CommonOptions & RedisFlags, out, batch, file) => exportCommand(batch!, file!, o, out)));

  prefixFlag(command('import', 'restore a batch from an export archive').argument('<file>', 'archive to read'))
    .action(act(async (o: CommonOptions & RedisFlags, out, file) => importCommand(file!, o, out)));

  prefixFlag(command('dashboard', 'web UI: bull-board for the queues and a live batch overview'))
    .option('--port <n>', 'port (default 8080; 0 = any free port)', wholeNumber(0, 65535))
    .option('--host <host>', 'interface to bind (default 127.0.0.1; anything else needs a token)')
    .option('--token <token>', 'required token (env NOVA_FLEET_DASHBOARD_TOKEN)')
    .action(act(async (o: CommonOptions & DashboardFlags, out) => dashboardCommand(o, out)));

  prefixFlag(command('demo', 'the whole story on embedded defaults: mock API, Redis, a prompt rollout, its status'))
    .option('--latency <ms>', 'latency of the mock API (default 20)', wholeNumber(0))
    .action(act(async (o: CommonOptions & DemoFlags, out) => demoCommand(o, out)));

  command('config', 'print the resolved configuration, secrets masked')
    .option('--prefix <prefix>', 'Redis key prefix (env NOVA_FLEET_PREFIX)')
    .action(
      act(async (o: CommonOptions & { prefix?: string; config?: string }, out) => {
        const file = loadConfigFile(o.config);
        const config = { ...printableConfig(resolveConfig(o.prefix ? { prefix: o.prefix } : {}, process.env, file.values)), configFile: file.file ?? '(none)' };
        out.result(
          Object.entries(config)
            .map(([k, v]) => `${k.padEnd(12)} ${String(v)}`)
            .join('\n'),
          config,
        );
      }),
    );

  return program;
}

function parseHttpUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RangeError(`"${text}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`"${text}" is not an http(s) URL`);
  return url.toString();
}

/** An ISO 8601 instant → epoch ms. */
function parseInstant(text: string): number {
  const at = Date.parse(text);
  if (Number.isNaN(at) || !/^\d{4}-\d{2}-\d{2}/.test(text)) throw new RangeError(`"${text}" is not an ISO 8601 time such as 2026-12-05T02:00:00+01:00`);
  return at;
}

/** A parser that throws RangeError, as a commander argument parser (exit 2 with its message). */
function flagParser<T>(parse: (text: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

function positiveNumberOrZero(value: string): number {
  return value.trim() === '0' ? 0 : positiveNumber(value);
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
    if (error instanceof ExitError) {
      stderr.write(`nova-fleet: ${error.message}\n`);
      if (error.hint) stderr.write(`hint: ${error.hint}\n`);
      return error.exitCode;
    }
    stderr.write(`nova-fleet: unexpected error (a bug; please report it): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT_CODES.failed;
  }
}
