/**
 * Strict JSON on @streamparser/json's tokenizer: the same watcher of tokens serves the streamed JSON
 * manifest, each NDJSON line and each CSV `patch` cell. On top of what JSON.parse accepts it refuses
 * duplicate keys (JSON.parse silently keeps the last one — a manifest must not hide a second value)
 * and nesting deeper than MAX_JSON_DEPTH (recursion bombs).
 */
import { Tokenizer, TokenParser, TokenType } from '@streamparser/json';
import type { ParsedTokenInfo } from '@streamparser/json/utils/types/parsedTokenInfo.js';

export const MAX_JSON_DEPTH = 40;

interface Frame {
  kind: 'object' | 'array';
  keys: Set<string> | undefined;
  expectKey: boolean;
}

export class JsonStructureError extends Error {
  constructor(
    message: string,
    /** Byte offset of the offending token, when known. */
    readonly offset: number | undefined,
  ) {
    super(message);
  }
}

/**
 * Follows the token stream: depth, the key about to be read, duplicate keys. `onKey(depth, key,
 * offset)` and `onOpen(depth, offset)` let a streaming reader find where rows start.
 */
export class TokenWatcher {
  readonly frames: Frame[] = [];

  constructor(
    private readonly hooks: {
      onValueStart?: (depth: number, offset: number, token: TokenType) => void;
      onKey?: (depth: number, key: string, offset: number) => void;
      /** Default: throw. A streaming reader reports it and reads on (the structure is still sound). */
      onDuplicateKey?: (key: string, offset: number) => void;
    } = {},
  ) {}

  get depth(): number {
    return this.frames.length;
  }

  watch(info: ParsedTokenInfo): void {
    const top = this.frames.at(-1);
    const { token, offset } = info;
    if (top?.kind === 'object' && top.expectKey && token === TokenType.STRING) {
      const key = info.value as string;
      if (top.keys!.has(key)) {
        if (!this.hooks.onDuplicateKey) throw new JsonStructureError(`duplicate key "${key}"`, offset);
        this.hooks.onDuplicateKey(key, offset);
      }
      top.keys!.add(key);
      top.expectKey = false;
      this.hooks.onKey?.(this.frames.length, key, offset);
      return;
    }
    if (token === TokenType.COMMA) {
      if (top?.kind === 'object') top.expectKey = true;
      return;
    }
    if (token === TokenType.COLON) return;
    if (token === TokenType.RIGHT_BRACE || token === TokenType.RIGHT_BRACKET) {
      this.frames.pop();
      return;
    }
    // A value starts here.
    this.hooks.onValueStart?.(this.frames.length, offset, token);
    if (token === TokenType.LEFT_BRACE || token === TokenType.LEFT_BRACKET) {
      if (this.frames.length >= MAX_JSON_DEPTH) throw new JsonStructureError(`nested deeper than ${MAX_JSON_DEPTH} levels`, offset);
      this.frames.push(
        token === TokenType.LEFT_BRACE ? { kind: 'object', keys: new Set(), expectKey: true } : { kind: 'array', keys: undefined, expectKey: false },
      );
    }
  }
}

/** The offset a tokenizer error names (`absolute position "7"`), if any. */
export function errorOffset(error: Error): number | undefined {
  const match = /absolute position "(\d+)"/.exec(error.message);
  return match ? Number(match[1]) : undefined;
}

/** Tidy the library's messages for operators (`in state START` means nothing to them). */
export function describeJsonError(error: Error): string {
  // The parser's message may quote a whole token (megabytes): cut first, so the clean-up below is
  // linear, and an error line never echoes a huge value.
  const message = error.message.length > 300 ? `${error.message.slice(0, 300)}…` : error.message;
  return message
    .replace(/ at chunk position "\d+" \(absolute position "\d+"\)/, '')
    .replace(/ in state \w+/, '')
    .replace(/[A-Z_]+ \(("[^"]*")\)/, '$1')
    .replace(/^Unexpected /, 'unexpected ');
}

/**
 * Parse one complete JSON text strictly. Throws JsonStructureError (with a tidy message) on any problem.
 * Most texts are fine: JSON.parse reads them (at a hundredth of the tokenizer's cost: 1,500 NDJSON
 * rows took 150 ms of a cold `run`), and a scan proves it kept everything (fastPathHolds); only a text
 * it refuses, or one with a duplicate key or too deep, is tokenized — to name the problem and where.
 */
export function parseJsonStrict(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return parseWithTokens(text);
  }
  return fastPathHolds(text, value) ? value : parseWithTokens(text);
}

/**
 * Whether JSON.parse's `value` of the (valid) JSON `text` is what the strict parser gives: nesting
 * within MAX_JSON_DEPTH, and no key given twice in an object. In valid JSON every `:` outside a string
 * separates one member's key from its value, so the text's members number its colons — and the parsed
 * objects hold as many keys exactly when none was a duplicate (JSON.parse keeps one of each).
 */
function fastPathHolds(text: string, value: unknown): boolean {
  let colons = 0;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x3a) colons++;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) return false;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return countKeys(value) === colons;
}

/** Own keys of every object in a parsed JSON value (nesting already bounded by the caller's scan). */
function countKeys(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  let n = 0;
  if (Array.isArray(value)) {
    for (const item of value) n += countKeys(item);
    return n;
  }
  for (const key in value) {
    n += 1 + countKeys((value as Record<string, unknown>)[key]);
  }
  return n;
}

/** The tokenizer's strict parse (see TokenWatcher): slower, and says what is wrong and where. */
export function parseWithTokens(text: string): unknown {
  const tokenizer = new Tokenizer();
  const parser = new TokenParser();
  const watcher = new TokenWatcher();
  let result: { value: unknown } | undefined;
  let failure: Error | undefined;
  tokenizer.onToken = (info) => {
    if (failure) return;
    try {
      watcher.watch(info);
      parser.write(info);
    } catch (error) {
      failure = error as Error;
    }
  };
  tokenizer.onError = (error) => (failure ??= error);
  parser.onError = (error) => (failure ??= error);
  parser.onValue = ({ value, stack }) => {
    if (stack.length === 0) result = { value };
  };
  parser.onEnd = () => {};
  try {
    tokenizer.write(text);
    if (!failure) tokenizer.end();
  } catch (error) {
    failure ??= error as Error;
  }
  if (failure) {
    throw failure instanceof JsonStructureError ? failure : new JsonStructureError(describeJsonError(failure), errorOffset(failure));
  }
  if (!result || watcher.depth !== 0) throw new JsonStructureError('unexpected end of JSON', undefined);
  return result.value;
}
