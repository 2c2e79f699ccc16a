/**
 * Where an operation's words to the operator go: the CLI's stderr, a library caller's `onNote`, or
 * nowhere. An operation returns its result and never renders it: that is the caller's (cli/, lib.ts).
 */
import type { BatchView } from '../views/batch-view.js';

export interface Notes {
  note(line: string): void;
  /** A live display of a batch being worked here (the CLI's progress bar); none if absent. */
  progress?(): ProgressDisplay;
  /**
   * Asked before a destructive step (SPEC §17: prune, rollback --force, restore, import --trust): resolves
   * to go ahead, throws (a UsageError) to stop with nothing done. Absent: go ahead (a library caller
   * chose to call).
   */
  confirm?(question: string): Promise<void>;
}

export interface ProgressDisplay {
  update(view: BatchView): void;
  stop(): void;
}

export const NO_PROGRESS: ProgressDisplay = { update: () => {}, stop: () => {} };

/** Notes that go nowhere (a library call without `onNote`). */
export const SILENT: Notes = { note: () => {} };
