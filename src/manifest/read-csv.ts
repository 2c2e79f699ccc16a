/**
 * CSV manifests (SPEC §3), read with csv-parse as a stream and turned into the same row shape as JSON
 * rows: `{org_id, agent_id, patch, vars}`.
 *
 * Columns: `org_id`, `agent_id` (required); a writable field (`name`) or a dotted path into an object
 * field (`vad_config.sample_rate`), each cell coerced to the declared type; `patch` (a JSON object
 * merged into the row's patch); `FIELD:file` (a path whose text becomes FIELD); `vars.NAME` (template
 * variables). An empty cell leaves its field alone.
 */
import { parse } from 'csv-parse';
import { Readable } from 'node:stream';
import { FORBIDDEN_KEYS, READ_ONLY_FIELDS, WRITABLE_FIELDS, specAt, type FieldSpec } from '../patch/fields.js';
import { setOwn } from '../patch/merge.js';
import { suggest } from '../patch/row-patch.js';
import { isDottedPath } from '../patch/expect.js';
import { isPlainObject } from '../patch/types.js';
import { coerceCell } from './coerce.js';
import { FatalManifestError, type ManifestIssue } from './errors.js';
import { describeJsonError, parseJsonStrict } from './json-tokens.js';
import { MAX_CELL_BYTES, type ReaderItem } from './types.js';

type Column =
  | { kind: 'org_id' | 'agent_id' | 'patch'; name: string }
  | { kind: 'var'; name: string; variable: string }
  | { kind: 'expect'; name: string; path: string }
  | { kind: 'field'; name: string; path: string[]; spec: FieldSpec | undefined }
  | { kind: 'file'; name: string; path: string[] };

const VAR = /^vars\.([A-Za-z_][A-Za-z0-9_]*)$/;

function planColumn(name: string): Column | string {
  if (name === 'org_id' || name === 'agent_id' || name === 'patch') return { kind: name, name };
  if (name.startsWith('expect.')) {
    const path = name.slice('expect.'.length);
    return !isDottedPath(path) ? 'an expect column is expect.PATH with a dotted path such as expect.llm_config.model' : { kind: 'expect', name, path };
  }
  if (name.startsWith('vars.')) {
    const match = VAR.exec(name);
    return match ? { kind: 'var', name, variable: match[1]! } : 'a template variable name is letters, digits and _, not starting with a digit';
  }
  const isFile = name.endsWith(':file');
  const path = (isFile ? name.slice(0, -':file'.length) : name).split('.');
  const [top, key] = path;
  if (path.some((p) => FORBIDDEN_KEYS.has(p))) return 'forbidden key';
  if (top === undefined || top === '' || path.length > 2 || key === '') return 'a column is a field name or FIELD.KEY';
  if (READ_ONLY_FIELDS.has(top)) return 'read-only field: a PATCH neither changes nor restores it';
  if (!Object.hasOwn(WRITABLE_FIELDS, top)) return `unknown column${suggest(top, Object.keys(WRITABLE_FIELDS))}`;
  const topSpec = WRITABLE_FIELDS[top]!;
  if (key !== undefined) {
    if (topSpec.kind === 'object' && !Object.hasOwn(topSpec.keys, key)) return `unknown key of ${top}${suggest(key, Object.keys(topSpec.keys))}`;
    if (topSpec.kind !== 'object' && topSpec.kind !== 'freeform') return `${top} is not an object; use the column "${top}"`;
  }
  const spec = specAt(path);
  if (isFile) {
    return spec?.kind === 'string' ? { kind: 'file', name, path } : `${name}: a :file column needs a string field`;
  }
  return { kind: 'field', name, path, spec };
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  const [top, key] = path as [string, string | undefined];
  if (key === undefined) {
    setOwn(target, top, value);
    return;
  }
  const inner = isPlainObject(target[top]) ? (target[top] as Record<string, unknown>) : {};
  setOwn(inner, key, value);
  setOwn(target, top, inner);
}

function hasPath(target: Record<string, unknown>, path: readonly string[]): boolean {
  const [top, key] = path as [string, string | undefined];
  if (!Object.hasOwn(target, top)) return false;
  if (key === undefined) return true;
  const inner = target[top];
  return isPlainObject(inner) ? Object.hasOwn(inner, key) || false : true; // a whole-object value covers every key
}

/** First line of a record: where it ends minus the line breaks inside it. */
function startLine(endLine: number, raw: string): number {
  const body = raw.replace(/(\r\n|\n|\r)$/, '');
  let breaks = 0;
  for (let i = body.indexOf('\n'); i !== -1; i = body.indexOf('\n', i + 1)) breaks++;
  return endLine - breaks;
}

export async function* readCsv(bytes: AsyncIterable<Buffer>): AsyncGenerator<ReaderItem> {
  const parser = parse({
      info: true,
      raw: true,
      skip_empty_lines: true,
      // csv-parse's bound is per record; cells are bounded at 1 MiB below. A 2 GB line stops here.
      max_record_size: 8 * MAX_CELL_BYTES,
      // Keep going after a broken record so that every problem is reported at once.
      skip_records_with_error: true,
  });
  // pipe() does not forward errors: a UTF-8 error from the source must end the parse, not vanish.
  Readable.from(bytes)
    .on('error', (error) => parser.destroy(error))
    .pipe(parser);
  const skipped: ManifestIssue[] = [];
  const seenSkips = new Set<string>();
  /** Where the last good record ended: a record that never closes its quote started after it. */
  let lastEnd = 0;
  parser.on('skip', (error: Error & { lines?: number; code?: string }) => {
    // csv-parse repeats the size error for every further chunk of one oversized record.
    const key = `${error.code}:${error.lines}`;
    if (seenSkips.has(key)) return;
    seenSkips.add(key);
    if (error.code === 'CSV_MAX_RECORD_SIZE') {
      // Fatal: csv-parse keeps buffering an oversized record and re-checks it at every chunk (a 40 MB
      // record took 25.7 s and 357 MB); nothing after it could be read reliably anyway.
      parser.destroy(new FatalManifestError({ line: error.lines ?? 1, field: 'csv', message: `a record longer than ${8 * MAX_CELL_BYTES} bytes` }));
      return;
    }
    if (error.code === 'CSV_QUOTE_NOT_CLOSED') {
      skipped.push({ line: lastEnd + 1, field: 'csv', message: 'a quoted cell opened in this record is never closed' });
      return;
    }
    const lengths = /expect (\d+), got (\d+)/.exec(error.message);
    const message =
      error.code === 'CSV_MAX_RECORD_SIZE'
        ? `a record longer than ${8 * MAX_CELL_BYTES} bytes`
        : error.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH' && lengths
          ? `expected ${lengths[1]} cells as in the header, found ${lengths[2]}`
          : error.message.replace(/ at line \d+/, '').replace(/^(\w[\w ]*): /, (_m, kind: string) => `${kind.toLowerCase()}: `);
    skipped.push({ line: error.lines ?? 1, field: 'csv', message });
  });

  let columns: Column[] | undefined;
  const flushSkipped = function* (): Generator<ReaderItem> {
    for (const issue of skipped.splice(0)) yield { kind: 'issue', issue };
  };

  try {
    for await (const { record, info, raw } of parser as AsyncIterable<{ record: string[]; info: { lines: number }; raw: string }>) {
      yield* flushSkipped();
      const line = startLine(info.lines, raw);
      lastEnd = info.lines;
      if (columns === undefined) {
        columns = yield* header(record, line);
        continue;
      }
      yield* row(columns, record, line);
    }
  } catch (error) {
    if (error instanceof FatalManifestError) throw error;
    const e = error as Error & { lines?: number };
    throw new FatalManifestError({ line: e.lines ?? 1, field: 'csv', message: e.message });
  }
  yield* flushSkipped();
}

function* header(record: string[], line: number): Generator<ReaderItem, Column[]> {
  const issues: ManifestIssue[] = [];
  const columns: Column[] = [];
  const seen = new Set<string>();
  for (const rawName of record) {
    const name = rawName.trim();
    if (seen.has(name)) issues.push({ line, field: name || '(empty)', message: 'column appears twice in the header' });
    seen.add(name);
    const planned = name === '' ? 'empty column name in the header' : planColumn(name);
    if (typeof planned === 'string') issues.push({ line, field: name || '(empty)', message: planned });
    else columns.push(planned);
  }
  for (const required of ['org_id', 'agent_id']) {
    if (!seen.has(required)) issues.push({ line, field: required, message: `the header needs an ${required} column` });
  }
  if (issues.length > 0) {
    for (const issue of issues.slice(0, -1)) yield { kind: 'issue', issue };
    // Rows cannot be read without a valid header: the last header issue ends the file.
    throw new FatalManifestError(issues.at(-1)!);
  }
  return columns;
}

function* row(columns: Column[], record: string[], line: number): Generator<ReaderItem> {
  if (record.length !== columns.length) {
    yield { kind: 'issue', issue: { line, field: 'csv', message: `expected ${columns.length} cells as in the header, found ${record.length}` } };
    return;
  }
  const issues: ManifestIssue[] = [];
  const value: { org_id?: string; agent_id?: string; patch: Record<string, unknown>; vars: Record<string, string>; expect?: Record<string, unknown> } = { patch: {}, vars: {} };
  let patchCell: Record<string, unknown> | undefined;
  const fromColumns: string[][] = [];
  columns.forEach((column, i) => {
    const cell = record[i]!;
    if (cell === '') return; // an empty cell leaves the field alone
    if (Buffer.byteLength(cell) > MAX_CELL_BYTES) {
      issues.push({ line, field: column.name, message: 'cell over 1 MiB' });
      return;
    }
    switch (column.kind) {
      case 'org_id':
      case 'agent_id':
        value[column.kind] = cell;
        return;
      case 'var':
        setOwn(value.vars, column.variable, cell);
        return;
      case 'expect': {
        // A precondition's value is JSON when it parses as JSON (3, true, {"a":1}), else text.
        let expected: unknown = cell;
        try {
          expected = parseJsonStrict(cell);
        } catch {
          // text
        }
        setOwn((value.expect ??= {}), column.path, expected);
        return;
      }
      case 'patch': {
        try {
          const parsed = parseJsonStrict(cell);
          if (!isPlainObject(parsed)) issues.push({ line, field: 'patch', message: 'the patch column must hold a JSON object' });
          else patchCell = parsed;
        } catch (error) {
          issues.push({ line, field: 'patch', message: `invalid JSON: ${describeJsonError(error as Error)}` });
        }
        return;
      }
      case 'file':
        setPath(value.patch, column.path, { $file: cell });
        fromColumns.push(column.path);
        return;
      case 'field': {
        const coerced = coerceCell(column.spec, cell);
        if (!coerced.ok) issues.push({ line, field: column.name, message: coerced.message });
        else {
          setPath(value.patch, column.path, coerced.value);
          fromColumns.push(column.path);
        }
      }
    }
  });
  if (patchCell !== undefined) {
    for (const path of fromColumns) {
      if (hasPath(patchCell, path)) issues.push({ line, field: path.join('.'), message: 'set both by its column and by the patch column' });
    }
    value.patch = mergeColumnsOver(patchCell, value.patch);
  }
  for (const issue of issues) yield { kind: 'issue', issue };
  // Yielded even with bad cells, so the row's other cells and its ids are still checked.
  yield { kind: 'row', row: { line, value, partial: issues.length > 0 } };
}

/** Column values over the `patch` cell: objects merge key by key (no key is set by both: checked). */
function mergeColumnsOver(base: Record<string, unknown>, columns: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = { ...base };
  for (const [key, item] of Object.entries(columns)) {
    const under = result[key];
    setOwn(result, key, isPlainObject(under) && isPlainObject(item) ? { ...under, ...item } : item);
  }
  return result;
}
