/**
 * NDJSON/JSONL: one row object per line. Lines are split with a length bound (lines.ts); every bad
 * line is reported and reading goes on.
 */
import { splitLines } from '../lines.js';
import { describeJsonError, parseJsonStrict } from './json-tokens.js';
import { MAX_CELL_BYTES, type ReaderItem } from './types.js';

/** A line may hold a row with a few cells of up to 1 MiB each. */
export const MAX_LINE_BYTES = 4 * MAX_CELL_BYTES;

export async function* readNdjson(bytes: AsyncIterable<Buffer>): AsyncGenerator<ReaderItem> {
  for await (const item of splitLines(bytes, MAX_LINE_BYTES)) {
    if ('tooLong' in item) {
      yield { kind: 'issue', issue: { line: item.line, field: 'ndjson', message: `line longer than ${MAX_LINE_BYTES / MAX_CELL_BYTES} MiB` } };
      continue;
    }
    if (item.text.trim() === '') continue;
    try {
      yield { kind: 'row', row: { line: item.line, value: parseJsonStrict(item.text) } };
    } catch (error) {
      yield { kind: 'issue', issue: { line: item.line, field: 'ndjson', message: `invalid JSON: ${describeJsonError(error as Error)}` } };
    }
  }
}
