/**
 * Where a command's words go. With `--json`, stdout carries exactly one JSON document and human
 * lines go to stderr; without it, results go to stdout and progress/notes to stderr.
 */
import type { Notes } from '../ops/notes.js';
import { createProgress } from './progress.js';

export interface Output extends Notes {
  readonly json: boolean;
  /** The command's result: JSON on stdout with --json, else the human text on stdout. */
  result(human: string, data: unknown): void;
  /** A note for the operator (stderr). */
  note(line: string): void;
}

export function createOutput(json: boolean, stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Output {
  return {
    json,
    result(human, data) {
      if (json) stdout.write(`${JSON.stringify(data, null, 2)}\n`);
      else stdout.write(human.endsWith('\n') ? human : `${human}\n`);
    },
    note(line) {
      stderr.write(line.endsWith('\n') ? line : `${line}\n`);
    },
    // A batch worked here shows its progress on the terminal (stderr).
    progress: () => createProgress(stderr as NodeJS.WriteStream),
  };
}
