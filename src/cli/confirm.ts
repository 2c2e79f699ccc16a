/**
 * Destructive commands confirm (SPEC §17): `prune`, `rollback --force`, `restore`, `import --trust` ask
 * y/N on a terminal; `--yes` skips the question; without a terminal and without `--yes` they refuse
 * (exit 2) with nothing done — a script must say it means it.
 */
import { createInterface } from 'node:readline/promises';
import { UsageError } from '../errors.js';
import type { Output } from './output.js';

export interface ConfirmIo {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream & { isTTY?: boolean };
}

export function confirmer(yes: boolean | undefined, io: ConfirmIo = { input: process.stdin, output: process.stderr }): (question: string) => Promise<void> {
  return async (question) => {
    if (yes) return;
    if (!io.input.isTTY || !io.output.isTTY) {
      throw new UsageError(`${question} — not confirmed: there is no terminal to ask on, and --yes was not given; nothing was done`, 'add --yes to go ahead without the question');
    }
    const prompt = createInterface({ input: io.input, output: io.output });
    try {
      const answer = await prompt.question(`${question} [y/N] `);
      if (!/^y(es)?$/i.test(answer.trim())) throw new UsageError('not confirmed: nothing was done');
    } finally {
      prompt.close();
    }
  };
}

/** The command's output, asking before destructive steps as `--yes` says. */
export function confirming(out: Output, yes: boolean | undefined): Output {
  return { ...out, confirm: confirmer(yes) };
}
