/**
 * `npm run bench`: every benchmark prints its figure, the peer measured in the same run, and the ratio.
 * Run on an otherwise idle machine; figures of the run are in the README with the core count.
 */
import os from 'node:os';
import { benchEngine } from './engine.js';
import { benchManifest } from './manifest.js';
import { benchScale } from './scale.js';
import { benchLarge } from './large.js';
import { benchStartup } from './startup.js';
import { benchColdRun } from './cold-run.js';
import { benchKeyBudget } from './key-budget.js';
import { benchSelect } from './select.js';
import { benchGate } from './gate.js';
import { benchFreshPlan } from './fresh-plan.js';

interface Row {
  what: string;
  figure: string;
  peer: string;
  ratio: string;
  target: string;
}

function table(rows: Row[]): string {
  const headers: Row = { what: 'benchmark', figure: 'nova-fleet', peer: 'peer (same run)', ratio: 'ratio', target: 'target' };
  const all = [headers, ...rows];
  const width = (key: keyof Row) => Math.max(...all.map((r) => r[key].length));
  const line = (r: Row) => `| ${(Object.keys(headers) as (keyof Row)[]).map((k) => r[k].padEnd(width(k))).join(' | ')} |`;
  const rule = `|${(Object.keys(headers) as (keyof Row)[]).map((k) => '-'.repeat(width(k) + 2)).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

const rows: Row[] = [];
const onlyArg = process.argv[2];
const manifestRows = Number(process.env.BENCH_MANIFEST_ROWS ?? 1_000_000);

console.error(`nova-fleet bench on ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
if (!onlyArg || onlyArg === 'manifest') {
  console.error(`manifest: validating ${manifestRows.toLocaleString('en')} CSV rows…`);
  const { ours, peer, bytes } = await benchManifest(manifestRows);
  const rate = (m: { rows: number; ms: number }) => Math.round(m.rows / (m.ms / 1000));
  rows.push({
    what: `validate ${manifestRows.toLocaleString('en')}-row CSV (${Math.round(bytes / 2 ** 20)} MB): rows/s`,
    figure: rate(ours).toLocaleString('en'),
    peer: `${rate(peer).toLocaleString('en')} (csv-parse, no checks)`,
    ratio: (rate(ours) / rate(peer)).toFixed(2),
    target: '—',
  });
  rows.push({
    what: 'validate: peak RSS, MB',
    figure: String(ours.peakRssMB),
    peer: `${peer.peakRssMB} (csv-parse, no checks)`,
    ratio: (ours.peakRssMB / peer.peakRssMB).toFixed(2),
    target: '< 300 MB',
  });
}
if (!onlyArg || onlyArg === 'engine') rows.push(...(await benchEngine((line) => console.error(line))));
// `npm run bench e2e`: only (b) and (d), for working on the end-to-end path; `startup`: the CLI's start-up.
if (onlyArg === 'e2e') rows.push(...(await benchEngine((line) => console.error(line), 'e2e')));
if (!onlyArg || onlyArg === 'scale') rows.push(...(await benchScale((line) => console.error(line))));
if (!onlyArg || onlyArg === 'startup') rows.push(...(await benchStartup((line) => console.error(line))));
if (!onlyArg || onlyArg === 'cold') rows.push(...(await benchColdRun((line) => console.error(line))));
if (!onlyArg || onlyArg === 'keys') rows.push(...(await benchKeyBudget((line) => console.error(line))));
if (!onlyArg || onlyArg === 'select') rows.push(...(await benchSelect((line) => console.error(line))));
if (!onlyArg || onlyArg === 'gate') rows.push(...(await benchGate((line) => console.error(line))));
if (!onlyArg || onlyArg === 'fresh') rows.push(...(await benchFreshPlan((line) => console.error(line))));
// Minutes long: only when asked for by name.
if (onlyArg === 'large') rows.push(...(await benchLarge((line) => console.error(line))));
console.log(table(rows));
