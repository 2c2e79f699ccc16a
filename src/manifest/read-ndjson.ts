/**
 * NDJSON/JSONL: one row object per line. Lines are split on bytes with a length bound, so one 2 GB
 * line costs a bounded buffer and one error, not the process; every bad line is reported and reading
 * goes on.
 */
import { describeJsonError, parseJsonStrict } from './json-tokens.js';
import { MAX_CELL_BYTES, type ReaderItem } from './types.js';

/** A line may hold a row with a few cells of up to 1 MiB each. */
export const MAX_LINE_BYTES = 4 * MAX_CELL_BYTES;

export async function* readNdjson(bytes: AsyncIterable<Buffer>): AsyncGenerator<ReaderItem> {
  let line = 1;
  let parts: Buffer[] = [];
  let size = 0;
  let tooLong = false;
  function* finish(): Generator<ReaderItem> {
    const lineNo = line++;
    if (tooLong) {
      yield { kind: 'issue', issue: { line: lineNo, field: 'ndjson', message: `line longer than ${MAX_LINE_BYTES / MAX_CELL_BYTES} MiB` } };
    } else {
      const text = Buffer.concat(parts).toString('utf8').replace(/\r$/, '');
      if (text.trim() !== '') {
        try {
          yield { kind: 'row', row: { line: lineNo, value: parseJsonStrict(text) } };
        } catch (error) {
          yield { kind: 'issue', issue: { line: lineNo, field: 'ndjson', message: `invalid JSON: ${describeJsonError(error as Error)}` } };
        }
      }
    }
    parts = [];
    size = 0;
    tooLong = false;
  }
  for await (const chunk of bytes) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); ; nl = chunk.indexOf(0x0a, start)) {
      const end = nl === -1 ? chunk.length : nl;
      if (!tooLong) {
        size += end - start;
        if (size > MAX_LINE_BYTES) {
          tooLong = true;
          parts = [];
        } else parts.push(chunk.subarray(start, end));
      }
      if (nl === -1) break;
      yield* finish();
      start = nl + 1;
    }
  }
  if (size > 0 || tooLong) yield* finish();
}
