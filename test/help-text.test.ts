/**
 * Every command's --help ends with examples and exit codes (issue 30, SPEC §17), and every example is a
 * command line the CLI accepts: parsed by the real program (flags, choices, values) with its actions
 * replaced, so an example cannot drift from the flags.
 */
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../src/cli/program.js';
import { commandsWithoutHelp, helpText, unexpectedError } from '../src/cli/help-text.js';
import { runCli } from './helpers/cli.js';

/** Shell words of an example line (quotes honoured; the comment after # dropped). */
function words(line: string): string[] {
  return (line.replace(/\s+#.*$/, '').replace(/\s+>.*$/, '').match(/"[^"]*"|'[^']*'|\S+/g) ?? []).map((w) => w.replace(/^["']|["']$/g, ''));
}

function quiet(cmd: Command): void {
  for (const sub of cmd.commands) {
    sub.action(() => {});
    quiet(sub);
  }
}

describe('help texts', () => {
  it('every command and subcommand has examples and exit codes', () => {
    expect(commandsWithoutHelp(buildProgram(() => {}))).toEqual([]);
  });

  it('every example parses: its flags exist and their values are accepted', async () => {
    const program = buildProgram(() => {});
    const lines: string[] = [];
    const walk = (cmd: Command, path: string) => {
      for (const sub of cmd.commands) {
        const name = path ? `${path} ${sub.name()}` : sub.name();
        lines.push(...helpText(name).split('\n').filter((l) => l.trim().startsWith('nova-fleet ') || l.includes('NOVA_FLEET_DASHBOARD_TOKEN=… nova-fleet')));
        walk(sub, name);
      }
    };
    walk(program, '');
    expect(lines.length).toBeGreaterThan(40);
    for (const line of lines) {
      const argv = words(line.slice(line.indexOf('nova-fleet ') + 'nova-fleet '.length));
      const fresh = buildProgram(() => {});
      quiet(fresh);
      fresh.configureOutput({ writeErr: () => {}, writeOut: () => {} });
      await expect(fresh.parseAsync(argv, { from: 'user' }), line).resolves.toBeDefined();
    }
  });

  it('--help shows them (drift: its own exit 1)', async () => {
    const help = await runCli(['drift', '--help']);
    expect(help.stdout).toContain('\nExamples:\n  nova-fleet drift BATCH_ID\n');
    expect(help.stdout).toContain('\nExit codes:\n  0  done\n  1  an agent the batch changed differs now\n  2  ');
  });

  it('an unexpected error says what to report: versions and the command, never its flag values', () => {
    const text = unexpectedError(new TypeError('x is undefined'), ['run', 'jobs/m.json', '--rate', '5', '--keys', 'secret-keys.txt'], { nova: '1.2.3', node: 'v20.20.2', platform: 'linux-x64' });
    expect(text).toMatch(/^nova-fleet: an unexpected error — nova-fleet did not expect this, and it is a defect to fix: TypeError: x is undefined\n/);
    expect(text).toContain('\n  versions  nova-fleet 1.2.3, Node v20.20.2, linux-x64\n  command   nova-fleet run jobs/m.json [flags]\n');
    expect(text).not.toContain('secret-keys');
  });
});
