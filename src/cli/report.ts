/**
 * `nova-fleet report BATCH [--format csv|json|ndjson] [--out FILE]`: one row per agent, streamed to
 * stdout or FILE. JSON/NDJSON rows carry the full before and after snapshots; CSV has the changed field
 * names and neutralises spreadsheet formulas.
 */
import { storedAnalyses } from '../controller/calls-gate.js';
import type { BatchMeta } from '../batch/records.js';
import { requestFigures, type BatchView } from '../views/batch-view.js';
import { requestsLine } from './view-text.js';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { stringify } from 'csv-stringify';
import { CSV_COLUMNS, csvRecord, reportRows } from '../views/report.js';
import { requireBatch } from '../ops/require-batch.js';
import { openStore, type RedisFlags } from '../ops/context.js';
import { requireWritableTarget } from '../user-files.js';
import type { Output } from './output.js';

export interface ReportFlags extends RedisFlags {
  format?: 'csv' | 'json' | 'ndjson';
  out?: string;
}

async function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

export async function reportCommand(batchId: string, flags: ReportFlags, out: Output): Promise<void> {
  const format = flags.format ?? 'csv';
  if (flags.out) await requireWritableTarget(flags.out, 'report');
  const ctx = await openStore(flags, { readOnly: true });
  let rows = 0;
  let gated: Pick<BatchMeta, 'gate'> = {};
  let requests: BatchView['requests'];
  try {
    gated = await requireBatch(ctx.store, batchId);
    requests = requestFigures(await ctx.store.requestCounts(batchId), await ctx.store.counts(batchId));
  } catch (error) {
    ctx.close();
    throw error;
  }
  // Opened only once the batch is known: an unknown batch leaves no empty file behind.
  const sink: NodeJS.WritableStream = flags.out ? createWriteStream(flags.out) : process.stdout;
  try {
    const source = reportRows(ctx.store, batchId, { snapshots: format !== 'csv' });
    if (format === 'csv') {
      const csv = stringify({ header: true, columns: [...CSV_COLUMNS] });
      csv.pipe(sink, { end: false });
      for await (const row of source) {
        if (!csv.write(csvRecord(row))) await once(csv, 'drain');
        rows++;
      }
      csv.end();
      await once(csv, 'end');
    } else if (format === 'ndjson') {
      for await (const row of source) {
        await write(sink, `${JSON.stringify(row)}\n`);
        rows++;
      }
    } else {
      // A batch with a calls gate reports its judgements beside the rows (SPEC §14): an object, its rows
      // under `agents`. Every other batch's JSON report is the array of rows it always was.
      if (gated.gate) await write(sink, `{"gate":${JSON.stringify(gated.gate)},"analysis":${JSON.stringify(await storedAnalyses(ctx.store, batchId))},"agents":`);
      await write(sink, '[');
      for await (const row of source) {
        await write(sink, `${rows === 0 ? '\n' : ',\n'}${JSON.stringify(row)}`);
        rows++;
      }
      await write(sink, gated.gate ? '\n]}\n' : '\n]\n');
    }
  } finally {
    ctx.close();
    if (flags.out) {
      sink.end();
      await once(sink, 'close');
    }
  }
  out.note(`report: ${rows} agent${rows === 1 ? '' : 's'} of batch ${batchId}${flags.out ? ` written to ${flags.out}` : ''}; its API requests: ${requestsLine(requests)}`);
}
