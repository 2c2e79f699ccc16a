/** Snapshot compression on its own thread (pack-thread.ts): the bytes are the codec's, errors come back. */
import { spawnSync } from 'node:child_process';
import { brotliDecompressSync, constants, inflateRawSync } from 'node:zlib';
import { PACKAGE_ROOT } from '../src/package-info.js';
import { describe, expect, it } from 'vitest';
import { PackThread } from '../src/store/pack-thread.js';
import { pack, packAgainst, packAgainstAsync, packAsync, unpack, unpackAgainst } from '../src/store/snapshot-codec.js';

const BROTLI = { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } };
const agent = { id: 'a1', name: 'Max', prompt_template: `# Role\n${'You speak with customers. '.repeat(200)}`, nested: { ok: true } };

describe('PackThread', () => {
  it('compresses off the thread exactly as the codec does on it', async () => {
    expect(await packAsync(agent)).toEqual(pack(agent));
    const after = { ...agent, name: 'Maxine' };
    const dictionary = JSON.stringify(agent);
    expect(await packAgainstAsync(after, dictionary)).toEqual(packAgainst(after, dictionary));
    expect(unpack(await packAsync(agent))).toEqual(agent);
    expect(unpackAgainst(await packAgainstAsync(after, dictionary), dictionary)).toEqual(after);
  });

  it('many at once, each answer to its own call', async () => {
    const thread = new PackThread(BROTLI, () => Buffer.alloc(0));
    const texts = Array.from({ length: 200 }, (_, i) => `text number ${i} `.repeat(i + 1));
    const packed = await Promise.all(texts.map((text) => thread.compress(text)));
    expect(packed.map((bytes) => brotliDecompressSync(bytes).toString())).toEqual(texts);
    const against = await thread.compress('text number 7 and more', texts[7]);
    expect(inflateRawSync(against, { dictionary: Buffer.from(texts[7]!) }).toString()).toBe('text number 7 and more');
  });

  it.each([
    ['started early by warm() and never used', 'thread.warm();'],
    ['after its work is done', 'await thread.compress("some text");'],
  ])('never keeps a process from ending: a thread %s', (_name, use) => {
    // The build's module (npm test compiles it first), in a process of its own that then has nothing left to do.
    const module = new URL('dist/src/store/pack-thread.js', `file://${PACKAGE_ROOT}/`).href;
    const script = `import { PackThread } from ${JSON.stringify(module)}; const thread = new PackThread({}, () => Buffer.alloc(0)); ${use}`;
    const started = Date.now();
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.signal).toBeNull(); // not killed by the timeout
    expect(child.status).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
  }, 20_000);

  it("a compression that fails in the thread fails its caller, and the thread serves the next call", async () => {
    // A parameter brotli does not know: the thread's call throws, the caller hears why.
    const thread = new PackThread({ params: { 9999: 1 } }, () => Buffer.alloc(0));
    await expect(thread.compress('anything')).rejects.toThrow('compression failed: 9999 is not a valid Brotli parameter');
    const against = await thread.compress('abc abc', 'abc');
    expect(inflateRawSync(against, { dictionary: Buffer.from('abc') }).toString()).toBe('abc abc');
  });
});
