/**
 * Start-up as a user times it (issue 18): the wall clock of whole commands in fresh processes — median
 * of N — against `node` loading commander alone, in the same run.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/nova-fleet.js');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function timed(args: string[], runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const result = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`);
    times.push(performance.now() - started);
  }
  return median(times);
}

export async function benchStartup(log: (line: string) => void, runs = 11) {
  log(`startup: ${runs} fresh processes per command…`);
  const peer = timed(['--input-type=module', '-e', "await import('commander')"], runs);
  const help = timed([BIN, '--help'], runs);
  // A prefix nobody uses: `status` connects, reads the batch list, and prints "no batches".
  const status = timed([BIN, 'status', '--prefix', `bench-startup-${randomBytes(3).toString('hex')}`], runs);
  const row = (what: string, ms: number, target: string) => ({ what, figure: `${ms.toFixed(0)} ms`, peer: `${peer.toFixed(0)} ms (node + commander)`, ratio: (ms / peer).toFixed(2), target });
  return [row('startup: `nova-fleet --help`, median wall clock', help, '≤ 2.0'), row('startup: `nova-fleet status` (reads Redis), median wall clock', status, '≤ 3.0')];
}
