/**
 * `nova-fleet drift BATCH [--json]`: the batch's agents changed since it left them (ops/drift.ts); exit 1
 * on drift. `--every 6h [--notify URL]` registers the check for workers to run on that schedule,
 * `--stop` removes it, `--list` shows the schedules (ops/drift-checks.ts).
 */
import { driftOf } from '../ops/drift.js';
import type { ApiFlags, RedisFlags } from '../ops/context.js';
import { UsageError } from '../errors.js';
import { parseDuration } from '../batch/waves.js';
import { formatChange } from './format.js';
import type { Output } from './output.js';

export interface DriftFlags extends RedisFlags, ApiFlags {
  every?: string;
  notify?: string;
  stop?: boolean;
  list?: boolean;
}

/** Shorter than this, a schedule would read the fleet more than it changes (tests use seconds). */
const MIN_EVERY_MS = 1000;

function everyMs(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    throw new UsageError(`--every "${text.slice(0, 50)}" is not a duration`, 'e.g. --every 6h, --every 30m, --every 1d');
  }
  if (ms < MIN_EVERY_MS) throw new UsageError(`--every ${text} is shorter than a second`);
  return ms;
}

export async function driftCommand(batchId: string | undefined, flags: DriftFlags, out: Output): Promise<number> {
  const checks = await import('../ops/drift-checks.js');
  if (flags.list) {
    const schedules = await checks.listDrift(flags);
    const lines = schedules.map((s) => `  ${s.batch}: every ${formatEvery(s.everyMs)}${s.next ? `, next ${new Date(s.next).toISOString()}` : ''}`);
    out.result(schedules.length ? ['scheduled drift checks:', ...lines].join('\n') : 'no drift check is scheduled', { schedules });
    return 0;
  }
  if (!batchId) throw new UsageError('drift needs a batch id (or --list)', 'e.g. nova-fleet drift BATCH, or drift BATCH --every 6h --notify URL');
  if (flags.stop) {
    const stopped = await checks.stopDrift(batchId, flags);
    out.result(stopped ? `batch ${batchId}: scheduled drift check removed` : `batch ${batchId}: no drift check was scheduled`, { batch: batchId, stopped });
    return 0;
  }
  if (flags.every !== undefined) {
    const ms = everyMs(flags.every);
    await checks.scheduleDrift(batchId, ms, flags);
    out.result(`batch ${batchId}: drift checked every ${formatEvery(ms)} by the workers (the first now)${flags.notify ? ', a drift event POSTed on drift' : '; no --notify: drift is only logged by the worker'}; \`nova-fleet drift --stop ${batchId}\` removes it`, { batch: batchId, everyMs: ms, ...(flags.notify ? { notify: true } : {}) });
    return 0;
  }
  if (flags.notify) throw new UsageError('--notify goes with --every (a scheduled check)', `e.g. nova-fleet drift ${batchId} --every 6h --notify URL`);
  const report = await driftOf(batchId, flags, out);
  const head = `batch ${batchId}: ${report.drifted.length} of ${report.checked} agent${report.checked === 1 ? '' : 's'} it changed differ now (${report.requests.list} list page${report.requests.list === 1 ? '' : 's'}, ${report.requests.get} GET${report.requests.get === 1 ? '' : 's'})`;
  const lines = report.drifted.flatMap((d) => (d.kind === 'gone' ? [`  ${d.org_id}/${d.agent_id}: gone from the API`] : [`  ${d.org_id}/${d.agent_id}:`, ...d.changes.slice(0, 20).map((c) => `    ${formatChange(c)}`)]));
  out.result([head, ...lines].join('\n'), report);
  return report.drifted.length > 0 ? 1 : 0;
}

function formatEvery(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms} ms`;
}
