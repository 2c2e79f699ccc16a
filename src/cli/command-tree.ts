/** The CLI's commands as a flat list, each with its path (`status`, `plan show`): walked once, used by help texts and completion. */
import type { Command } from 'commander';

export interface CommandPath {
  /** '' for the program itself. */
  path: string;
  command: Command;
}

export function commandPaths(program: Command): CommandPath[] {
  const out: CommandPath[] = [];
  const walk = (command: Command, path: string) => {
    out.push({ path, command });
    for (const sub of command.commands) if (sub.name() !== 'help') walk(sub, path ? `${path} ${sub.name()}` : sub.name());
  };
  walk(program, '');
  return out;
}
