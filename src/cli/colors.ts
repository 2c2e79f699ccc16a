/**
 * Colours on a terminal (SPEC §17): a batch's status word coloured by what it asks of the operator.
 * NO_COLOR (set, not empty) turns them off; FORCE_COLOR (not 0/false) turns them on off a terminal;
 * otherwise only when the stream is a terminal that is not `dumb`. Decided here, not by picocolors'
 * own guess, which also colours whenever CI is set (a pipe's text must stay plain). JSON never has any.
 */
import { createColors } from 'picocolors';

export type Paint = (text: string) => string;

export interface Palette {
  status(status: string): Paint;
}

export function colorsOn(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return !['0', 'false'].includes(env.FORCE_COLOR.toLowerCase());
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export function palette(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Palette {
  const c = createColors(colorsOn(stream, env));
  return {
    status(status) {
      if (status === 'completed') return c.green;
      if (status === 'running') return c.cyan;
      if (status === 'halted' || status === 'cancelled' || status === 'failed' || status === 'conflict') return c.red;
      if (status === 'completed_with_failures' || status.startsWith('waiting') || status === 'paused' || status === 'scheduled') return c.yellow;
      return (text) => text;
    },
  };
}

/** No colours (JSON, files, a library). */
export const PLAIN: Palette = { status: () => (text) => text };
