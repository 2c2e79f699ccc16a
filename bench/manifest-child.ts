/**
 * One measurement in its own process, so that peak RSS belongs to it alone:
 * `node dist/bench/manifest-child.js nova-fleet|csv-parse FILE` prints {rows, ms, peakRssMB, ok}.
 * - nova-fleet: the full validation (coercion, schema, duplicates, summary).
 * - csv-parse: the peer — the same file parsed by csv-parse with no checks at all.
 */
import { parse } from 'csv-parse';
import { createReadStream } from 'node:fs';
import { validateManifest } from '../src/manifest/validate.js';

const [mode, file] = process.argv.slice(2);
if (!file || (mode !== 'nova-fleet' && mode !== 'csv-parse')) throw new Error('usage: manifest-child.js nova-fleet|csv-parse FILE');
const started = performance.now();
let rows = 0;
let ok = true;
if (mode === 'nova-fleet') {
  const report = await validateManifest(file);
  rows = report.summary.rows;
  ok = report.ok;
} else {
  for await (const _record of createReadStream(file).pipe(parse({ columns: true }))) rows++;
}
const ms = performance.now() - started;
process.stdout.write(`${JSON.stringify({ rows, ms: Math.round(ms), peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024), ok })}\n`);
