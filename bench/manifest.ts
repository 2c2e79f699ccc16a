/** Manifest validation at scale: a 1,000,000-row CSV, nova-fleet's validator vs bare csv-parse. */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { generateCsvManifest } from './gen-manifest.js';

const run = promisify(execFile);
const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'manifest-child.js');

export interface Measurement {
  rows: number;
  ms: number;
  peakRssMB: number;
  ok: boolean;
}

async function measure(mode: 'nova-fleet' | 'csv-parse', file: string): Promise<Measurement> {
  const { stdout } = await run(process.execPath, [child, mode, file], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as Measurement;
}

export async function benchManifest(rows = 1_000_000): Promise<{ ours: Measurement; peer: Measurement; file: string; bytes: number }> {
  const dir = path.join(os.tmpdir(), 'nova-fleet-bench');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `manifest-${rows}.csv`);
  if (!existsSync(file)) await generateCsvManifest(file, rows);
  const ours = await measure('nova-fleet', file);
  const peer = await measure('csv-parse', file);
  if (!ours.ok || ours.rows !== rows) throw new Error(`the generated manifest did not validate: ${JSON.stringify(ours)}`);
  return { ours, peer, file, bytes: statSync(file).size };
}
