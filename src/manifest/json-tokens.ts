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
 */
export function parseJsonStrict(text: string): unknown {
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
