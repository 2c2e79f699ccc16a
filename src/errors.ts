/**
 * Errors that end a command. Commands never call process.exit: they throw one of these, and the entry
 * point (cli/index.ts) prints the message and hint and exits with the code (SPEC §6 exit codes).
 */

export const EXIT_CODES = {
  /** Success. */
  ok: 0,
  /** The work ran but some agents failed or conflicted, or the batch was halted by a gate. */
  failed: 1,
  /** Bad usage or invalid manifest; nothing was done. */
  usage: 2,
  /** Infrastructure unavailable (Redis or API unreachable, or a batch halted for bad credentials). */
  infra: 3,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

export class ExitError extends Error {
  override readonly name: string = 'ExitError';
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    /** One line on how to fix it, printed after the message. */
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Bad flags, bad input files: exit 2, nothing done. */
export class UsageError extends ExitError {
  override readonly name = 'UsageError';
  constructor(message: string, hint?: string) {
    super(EXIT_CODES.usage, message, hint);
  }
}

/** Redis or the API cannot be reached: exit 3. */
export class InfraError extends ExitError {
  override readonly name = 'InfraError';
  constructor(message: string, hint?: string) {
    super(EXIT_CODES.infra, message, hint);
  }
}
