/**
 * The commands about what happened to the fleet over time (SPEC §16): `history`, `restore`, `drift`,
 * `audit` — defined apart from cli/program.ts to keep that table under its size, with its helpers.
 */
import type { Command, Option } from 'commander';
import type { Output } from './output.js';
import type { RedisFlags } from '../ops/context.js';
import type { AuditFlags } from './audit.js';
import type { RestoreFlags } from '../ops/restore.js';
import { flagParser, parseHttpUrl, rateNumber, wholeNumber } from './parsers.js';
import type { DriftFlags } from './drift.js';

interface CommonOptions {
  json?: boolean;
}

export interface ProgramParts {
  command: (name: string, description: string) => Command;
  act: <O extends CommonOptions>(fn: (options: O, out: Output, ...args: string[]) => Promise<number | void>) => (...args: unknown[]) => Promise<void>;
  acted: (cmd: Command) => Command;
  prefixFlag: (cmd: Command) => Command;
  auth: () => Option;
  keys: readonly [string, string];
}

export function historyCommands({ command, act, acted, prefixFlag, auth, keys }: ProgramParts): void {
  prefixFlag(command('history', "every batch that touched an agent: when, which, who, how it ended, the fields it changed (--json: the snapshots)").argument('<agent>', 'ORG_ID/AGENT_ID'))
    .action(act(async (o: CommonOptions & RedisFlags, out, agent) => (await import('./history.js')).historyCommand(agent!, o, out)));
  acted(command('restore', 'every agent back to its state at a time (or before a batch), as a batch of its own; edited since: conflict'))
    .requiredOption('--to <time|batch>', 'an ISO 8601 time, or a batch id (the state before it)')
    .option('--agents <file>', 'only these agents (CSV with org_id,agent_id columns)')
    .option('--org <org>', 'only the agents of this org (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--force', 'restore even agents edited since nova-fleet last wrote them')
    .option('--run', 'work it here with progress until it ends')
    .option('--batch <id>', 'the restore batch’s id (default: generated)')
    .option('--rate <n>', 'API requests per second (default 10)', rateNumber)
    .option('-y, --yes', 'go ahead without the y/N question (needed without a terminal)')
    .action(act(async (o: CommonOptions & RestoreFlags & { yes?: boolean }, out) => (await import('./restore.js')).restoreCommand(o, (await import('./confirm.js')).confirming(out, o.yes))));
  prefixFlag(command('drift', 'which of the agents a batch changed differ now from how it left them (list rows first, a GET only for those that moved); exit 1 on drift').argument('[batch]', 'batch id'))
    .option('--rate <n>', 'API requests per second (default 10)', rateNumber)
    .option('--every <duration>', 'register the check for the workers to run on this schedule (6h, 30m, 1d); the first runs now')
    .option('--notify <url>', 'with --every: POST a JSON drift event here when a check finds drift', flagParser(parseHttpUrl))
    .option('--stop', "remove the batch's scheduled check")
    .option('--list', 'the scheduled checks')
    .addOption(auth()).option(...keys)
    .action(act(async (o: CommonOptions & DriftFlags, out, batch) => (await import('./drift.js')).driftCommand(batch, o, out)));
  prefixFlag(command('audit', 'who did what: every action with its actor and reason, newest first').option('--since <time>', 'only since this time (ISO 8601) or this long ago (24h, 7d)').option('--batch <id>', 'only this batch').option('--limit <n>', 'at most this many (default 200)', wholeNumber(1, 100_000)))
    .action(act(async (o: CommonOptions & AuditFlags, out) => (await import('./audit.js')).auditCommand(o, out)));
}
