/**
 * The live progress of a batch on stderr: a cli-progress bar with rate and ETA on a terminal, and a
 * plain line every few seconds when stderr is not a TTY (CI logs, pipes).
 */
import cliProgress from 'cli-progress';
import type { BatchView } from '../views/batch-view.js';
import { formatDuration } from './view-text.js';

export type { ProgressDisplay } from '../ops/notes.js';
import type { ProgressDisplay } from '../ops/notes.js';

const PLAIN_EVERY_MS = 5000;

export function createProgress(stream: NodeJS.WriteStream = process.stderr): ProgressDisplay {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: '{bar} {percentage}% | {value}/{total} agents | {rate}/s | ETA {eta_text} | {detail}',
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(view) {
        const payload = { rate: view.rate.toFixed(1), eta_text: view.etaSeconds !== undefined ? formatDuration(view.etaSeconds) : '-', detail: details(view) };
        if (!started) {
          bar.start(Math.max(1, view.meta.total), view.done, payload);
          started = true;
        }
        bar.setTotal(Math.max(1, view.meta.total));
        bar.update(view.done, payload);
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let last = 0;
  let lastLine = '';
  return {
    update(view) {
      const line = `${view.meta.id}: ${view.done}/${view.meta.total} agents, ${view.rate.toFixed(1)}/s, ETA ${view.etaSeconds !== undefined ? formatDuration(view.etaSeconds) : '-'} | ${details(view)}`;
      if (Date.now() - last >= PLAIN_EVERY_MS && line !== lastLine) {
        stream.write(`${line}\n`);
        last = Date.now();
        lastLine = line;
      }
    },
    stop() {},
  };
}

function details(view: BatchView): string {
  const c = view.counts;
  const done = view.meta.kind === 'rollback' ? `restored ${c.restored}${c.conflict ? ` conflict ${c.conflict}` : ''}` : `applied ${c.applied}`;
  return `${done} unchanged ${c.unchanged} failed ${c.failed}${c.skipped ? ` skipped ${c.skipped}` : ''} | ${view.meta.status}`;
}
