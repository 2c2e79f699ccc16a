/**
 * `nova-fleet completion bash|zsh|fish` (issue 30): a completion script written from the CLI's own
 * command tree — every command, subcommand (`plan show`) and long option, with an option's choices —
 * so it cannot fall behind the commands. Static: a tab press runs no node process. zsh uses the bash
 * script through its bashcompinit (as many CLIs do); fish gets its own `complete` lines.
 */
import type { Command, Option } from 'commander';
import { commandPaths } from './command-tree.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface Entry {
  /** `status`, `plan show`. */
  path: string;
  options: Array<{ flag: string; description: string; choices?: readonly string[]; takesValue: boolean }>;
  subcommands: Array<{ name: string; description: string }>;
  /** The values the command's first argument takes, if it names them (`completion bash`). */
  values: readonly string[];
}

function entries(program: Command): Entry[] {
  return commandPaths(program).map(({ path, command }) => {
    const options = (command.options as readonly Option[]).filter((o) => o.long && !o.hidden).map((o) => ({ flag: o.long!, description: o.description, ...(o.argChoices ? { choices: o.argChoices } : {}), takesValue: o.required || o.optional }));
    return {
      path,
      options: [...options, { flag: '--help', description: 'display help for command', takesValue: false }],
      subcommands: command.commands.filter((c) => c.name() !== 'help').map((c) => ({ name: c.name(), description: c.description() })),
      values: command.registeredArguments[0]?.argChoices ?? [],
    };
  });
}

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

function bash(program: Command): string {
  const all = entries(program);
  const cases = all.map((e) => {
    const choices = e.options.filter((o) => o.choices).map((o) => `      ${o.flag}) COMPREPLY=($(compgen -W ${quote(o.choices!.join(' '))} -- "$cur")); return;;`);
    const valued = e.options.filter((o) => o.takesValue && !o.choices).map((o) => o.flag);
    return [
      `    ${quote(e.path)})`,
      `      opts=${quote(e.options.map((o) => o.flag).join(' '))}; subs=${quote([...e.subcommands.map((c) => c.name), ...e.values].join(' '))}`,
      '      case "$prev" in',
      ...choices,
      ...(valued.length ? [`      ${valued.join('|')}) return;;`] : []),
      '      esac;;',
    ].join('\n');
  });
  return `# nova-fleet completion for bash: eval "$(nova-fleet completion bash)" (e.g. in ~/.bashrc)
_nova_fleet() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" opts="" subs="" i word
  # The command path so far: the words that name (sub)commands, options and their values skipped.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    [[ $word == -* ]] && continue
    case " $(_nova_fleet_subs "$path") " in *" $word "*) path="\${path:+$path }$word";; esac
  done
  case "$path" in
${cases.join('\n')}
  esac
  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur"));
  elif [[ -n $subs ]]; then COMPREPLY=($(compgen -W "$subs" -- "$cur")); fi
}
_nova_fleet_subs() {
  case "$1" in
${all.map((e) => `    ${quote(e.path)}) echo ${quote(e.subcommands.map((c) => c.name).join(' '))};;`).join('\n')}
  esac
}
complete -o default -F _nova_fleet nova-fleet
`;
}

function zsh(program: Command): string {
  return `#compdef nova-fleet
# nova-fleet completion for zsh: eval "$(nova-fleet completion zsh)" (e.g. in ~/.zshrc, after compinit)
autoload -U +X bashcompinit && bashcompinit
${bash(program).split('\n').slice(1).join('\n')}`;
}

function fish(program: Command): string {
  const lines = ['# nova-fleet completion for fish: nova-fleet completion fish > ~/.config/fish/completions/nova-fleet.fish'];
  for (const e of entries(program)) {
    const words = e.path ? e.path.split(' ') : [];
    const here = words.length === 0 ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${words.at(-1)}`;
    for (const sub of e.subcommands) lines.push(`complete -c nova-fleet -f -n ${quote(here)} -a ${sub.name} -d ${quote(sub.description.slice(0, 80))}`);
    if (words.length === 0) continue;
    if (e.values.length) lines.push(`complete -c nova-fleet -n ${quote(here)} -a ${quote(e.values.join(' '))}`);
    for (const o of e.options) lines.push(`complete -c nova-fleet -n ${quote(here)} -l ${o.flag.slice(2)}${o.choices ? ` -xa ${quote(o.choices.join(' '))}` : o.takesValue ? ' -r -F' : ''} -d ${quote(o.description.slice(0, 80))}`);
  }
  return `${lines.join('\n')}\n`;
}

export function completionScript(program: Command, shell: Shell): string {
  return shell === 'bash' ? bash(program) : shell === 'zsh' ? zsh(program) : fish(program);
}
