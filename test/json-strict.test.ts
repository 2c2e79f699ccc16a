/**
 * parseJsonStrict reads with JSON.parse and proves, by a scan, that nothing was lost (json-tokens.ts);
 * the tokenizer is the reference. Every text here must give the same value or the same error both ways.
 */
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, parseJsonStrict, parseWithTokens } from '../src/manifest/json-tokens.js';

const outcome = (parse: (text: string) => unknown, text: string) => {
  try {
    return { value: parse(text) };
  } catch (error) {
    return { error: (error as Error).message };
  }
};

const nest = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;

const TEXTS: Array<[string, string]> = [
  ['a plain row', '{"org_id":"o1","agent_id":"a1","patch":{"name":"x"}}'],
  ['colons and braces inside strings', '{"a":"x:y:{z}[","b":{"c":"::"}}'],
  ['escaped quotes and backslashes', String.raw`{"a":"say \"hi\": {","b":"c:\\","d":"\\\":"}`],
  ['a duplicate key', '{"a":1,"a":2}'],
  ['a duplicate key deep in an array', '[{"x":[{"k":1,"k":1}]}]'],
  ['a duplicate key hidden by a key with a colon', '{"a:":1,"b":2,"b":3}'],
  ['the same key in sibling objects (allowed)', '[{"k":1},{"k":2}]'],
  ['__proto__ as a key', '{"__proto__":{"polluted":true},"a":1}'],
  ['__proto__ twice', '{"__proto__":1,"__proto__":2}'],
  ['nesting at the limit', nest(MAX_JSON_DEPTH)],
  ['nesting one past the limit', nest(MAX_JSON_DEPTH + 1)],
  ['nesting far past the limit', nest(10_000)],
  ['not JSON', '{"a":'],
  ['a trailing comma', '{"a":1,}'],
  ['unicode escapes in keys', String.raw`{"\u0061":1,"a":2}`],
  ['numbers and literals', '[1.5e3,-0,true,false,null,"x"]'],
];

describe('parseJsonStrict', () => {
  for (const [name, text] of TEXTS) {
    it(`${name}: the same outcome as the tokenizer`, () => {
      expect(outcome(parseJsonStrict, text)).toEqual(outcome(parseWithTokens, text));
    });
  }

  it('refuses what it must (the cases above are not all accepted by both)', () => {
    expect(() => parseJsonStrict('{"a":1,"a":2}')).toThrow('duplicate key "a"');
    expect(() => parseJsonStrict(String.raw`{"\u0061":1,"a":2}`)).toThrow('duplicate key "a"');
    expect(() => parseJsonStrict('{"a:":1,"b":2,"b":3}')).toThrow('duplicate key "b"');
    expect(() => parseJsonStrict(nest(MAX_JSON_DEPTH + 1))).toThrow(`nested deeper than ${MAX_JSON_DEPTH} levels`);
    expect(parseJsonStrict('{"__proto__":{"polluted":true}}')).toEqual(JSON.parse('{"__proto__":{"polluted":true}}'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
