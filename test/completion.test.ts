/**
 * `nova-fleet completion bash|zsh|fish` (issue 30): the scripts come from the CLI's own command tree.
 * The bash one is sourced into a real bash and asked as a tab press asks it: commands, a subcommand,
 * long options, an option's choices, an argument's choices; zsh and fish carry the same commands.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';

describe('completion', () => {
  it('bash: a tab press completes commands, subcommands, options and their choices', async () => {
    const script = await runCli(['completion', 'bash']);
    expect(script.code).toBe(0);
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'nf-completion-')), 'nova-fleet.bash');
    writeFileSync(file, script.stdout);
    const ask = (...line: string[]) => {
      const words = line.map((w) => `'${w}'`).join(' ');
      const result = spawnSync('bash', ['-c', `source '${file}'; COMP_WORDS=(nova-fleet ${words}); COMP_CWORD=${line.length}; COMPREPLY=(); _nova_fleet; echo "\${COMPREPLY[*]}"`], { encoding: 'utf8' });
      expect(result.stderr).toBe('');
      return result.stdout.trim();
    };
    expect(ask('sta')).toBe('status');
    expect(ask('re').split(' ').sort()).toEqual(['report', 'restore', 'resume', 'retry']);
    expect(ask('status', '--wa')).toBe('--watch');
    expect(ask('plan', 'sh')).toBe('show');
    expect(ask('plan', 'show', 'p.json', '--format', '')).toBe('text markdown');
    expect(ask('report', 'b', '--format', '')).toBe('csv json ndjson');
    expect(ask('completion', '')).toBe('bash zsh fish');
    expect(ask('prune', '--y')).toBe('--yes');
    // A value of an option that takes one is left to the shell's own (file) completion.
    expect(ask('run', 'm.json', '--rate', '')).toBe('');
  });

  it('zsh wraps the bash script; fish has a line per command and option', async () => {
    const zsh = (await runCli(['completion', 'zsh'])).stdout;
    expect(zsh.split('\n')[0]).toBe('#compdef nova-fleet');
    expect(zsh).toContain('bashcompinit');
    expect(zsh).toContain('complete -o default -F _nova_fleet nova-fleet');
    const fish = (await runCli(['completion', 'fish'])).stdout;
    expect(fish).toContain("complete -c nova-fleet -f -n '__fish_use_subcommand' -a drift ");
    expect(fish).toContain("complete -c nova-fleet -n '__fish_seen_subcommand_from drift' -l every -r -F");
    expect(fish).toContain("-l format -xa 'text markdown'");
    expect((await runCli(['completion', 'tcsh'])).code).toBe(2);
  });
});
