/**
 * A JSON manifest, streamed: either an array of rows, or `{"defaults": {...}, "agents": [rows]}`, or
 * `{"defaults": {...}, "select": {...}}` — a selector whose agents are found through the API (SPEC §11).
 * @streamparser/json tokenizes the bytes; its TokenParser hands over one row at a time (never the
 * whole array); a TokenWatcher finds the line each row starts on and refuses duplicate keys.
 *
 * Fatal here (the rest of the file cannot be trusted): broken JSON, a wrong top-level shape, a
 * single value longer than MAX_VALUE_BYTES (a 2 GB line must not be buffered).
 */
import { Tokenizer, TokenParser, TokenType } from '@streamparser/json';
import { FatalManifestError } from './errors.js';
import { describeJsonError, errorOffset, JsonStructureError, TokenWatcher } from './json-tokens.js';
import { MAX_CELL_BYTES, type ReaderItem } from './types.js';

/** A token still incomplete after this many bytes is refused (strings of a row are at most 1 MiB). */
export const MAX_VALUE_BYTES = MAX_CELL_BYTES + 1024;

/** Maps byte offsets to 1-based lines, for offsets that only move forward. */
class LineCursor {
  #chunk: Buffer = Buffer.alloc(0);
  #chunkStart = 0;
  #pos = 0;
  #line = 1;

  feed(chunk: Buffer): void {
    this.at(this.#chunkStart + this.#chunk.length); // count the rest of the previous chunk
    this.#chunk = chunk;
    this.#chunkStart = this.#pos;
  }

  at(offset: number): number {
    const end = Math.min(offset, this.#chunkStart + this.#chunk.length) - this.#chunkStart;
    for (let i = this.#chunk.indexOf(0x0a, this.#pos - this.#chunkStart); i !== -1 && i < end; i = this.#chunk.indexOf(0x0a, i + 1)) this.#line++;
    if (end + this.#chunkStart > this.#pos) this.#pos = end + this.#chunkStart;
    return this.#line;
  }
}

export async function* readJson(bytes: AsyncIterable<Buffer>): AsyncGenerator<ReaderItem> {
  const lines = new LineCursor();
  const tokenizer = new Tokenizer();
  let parser: TokenParser | undefined;
  let form: 'array' | 'object' | undefined;
  let topKey: string | undefined;
  let seenAgents = false;
  let seenSelect = false;
  let rowLine = 1;
  let lastTokenOffset = 0;
  let fed = 0;
  let failure: FatalManifestError | undefined;
  const pending: ReaderItem[] = [];
  const fatal = (offset: number | undefined, message: string) =>
    new FatalManifestError({ line: offset === undefined ? lines.at(lastTokenOffset) : lines.at(offset), field: 'json', message });

  const watcher = new TokenWatcher({
    onDuplicateKey(key, offset) {
      pending.push({ kind: 'issue', issue: { line: lines.at(offset), field: key, message: `duplicate key "${key}" (JSON would silently keep the last value)` } });
    },
    onKey(depth, key, offset) {
      if (form !== 'object' || depth !== 1) return;
      if (key !== 'defaults' && key !== 'agents' && key !== 'select') throw new JsonStructureError(`unknown top-level key "${key}"; expected "defaults" and "agents" (or "select")`, offset);
      if (key === 'defaults' && seenAgents) throw new JsonStructureError('"defaults" must come before "agents" (rows are read as they stream)', offset);
      if ((key === 'agents' && seenSelect) || (key === 'select' && seenAgents)) throw new JsonStructureError('a manifest holds "agents" or "select", not both', offset);
      if (key === 'agents') seenAgents = true;
      if (key === 'select') seenSelect = true;
      topKey = key;
    },
    onValueStart(depth, offset, token) {
      if (depth === 0) return;
      if (form === 'object' && depth === 1 && topKey === 'agents' && token !== TokenType.LEFT_BRACKET) {
        throw new JsonStructureError('"agents" must be an array of rows', offset);
      }
      if ((form === 'array' && depth === 1) || (form === 'object' && depth === 2 && topKey === 'agents') || (form === 'object' && depth === 1)) {
        rowLine = lines.at(offset);
      }
    },
  });

  tokenizer.onToken = (info) => {
    if (failure) return;
    lastTokenOffset = info.offset;
    try {
      if (form === undefined) {
        if (info.token === TokenType.LEFT_BRACKET) form = 'array';
        else if (info.token === TokenType.LEFT_BRACE) form = 'object';
        else throw new JsonStructureError('a JSON manifest is an array of rows or {"defaults": …, "agents": [rows]}', info.offset);
        parser = new TokenParser({ paths: form === 'array' ? ['$.*'] : ['$.defaults', '$.select', '$.agents.*'], keepStack: false });
        parser.onValue = ({ value, key, stack }) => {
          if (form === 'array' || (stack.length === 2 && topKey === 'agents')) {
            pending.push({ kind: 'row', row: { line: rowLine, value } });
          } else if (key === 'defaults') {
            pending.push({ kind: 'defaults', line: rowLine, value });
          } else if (key === 'select') {
            pending.push({ kind: 'select', line: rowLine, value });
          }
        };
        parser.onError = (error) => {
          throw error;
        };
      }
      watcher.watch(info);
      parser!.write(info);
    } catch (error) {
      const e = error as Error;
      failure = fatal(e instanceof JsonStructureError ? e.offset : errorOffset(e), e instanceof JsonStructureError ? e.message : describeJsonError(e));
    }
  };
  tokenizer.onError = (error) => {
    failure ??= fatal(errorOffset(error), describeJsonError(error));
  };

  for await (const chunk of bytes) {
    lines.feed(chunk);
    try {
      tokenizer.write(chunk);
    } catch (error) {
      failure ??= fatal(errorOffset(error as Error), describeJsonError(error as Error));
    }
    fed += chunk.length;
    yield* pending.splice(0);
    if (failure) throw failure;
    if (fed - lastTokenOffset > MAX_VALUE_BYTES) {
      throw fatal(lastTokenOffset, `a value longer than 1 MiB (or a run of ${MAX_VALUE_BYTES} bytes without a complete token)`);
    }
  }
  if (form === undefined) return; // empty file: the validator reports an empty manifest
  if (watcher.depth !== 0) throw fatal(undefined, 'unexpected end of file: an array or object is not closed');
  if (form === 'object' && !seenAgents && !seenSelect) throw fatal(0, 'the object form needs an "agents" array of rows (or a "select")');
}
