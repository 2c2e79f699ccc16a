/**
 * Snapshots are stored compressed (SPEC §7: a fleet with multi-KB prompts must fit in a modest Redis).
 *
 * - The before snapshot: its JSON text, brotli at a middle quality (prompts are prose and compress
 *   several-fold; level 5 keeps a 4 KB agent well under a millisecond).
 * - The after snapshot: only its difference from before, deflated with the before's JSON text as preset
 *   dictionary, so an edited prompt costs little more than its edits — and the before snapshot is
 *   compressed once, not again next to the after. (Node's brotli has no custom dictionaries; zlib has.)
 */
import { brotliCompressSync, brotliDecompressSync, constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { PackThread } from './pack-thread.js';

const BROTLI = { params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } };

const compressText = (text: string, dictionary?: string): Buffer =>
  dictionary === undefined ? brotliCompressSync(Buffer.from(text), BROTLI) : deflateRawSync(Buffer.from(text), { dictionary: Buffer.from(dictionary) });

/** The engine's snapshots are compressed off the event loop that answers the other jobs' requests. */
const thread = new PackThread(BROTLI, compressText);

/** A worker about to take jobs starts the compression thread early: its first agents need not wait for it. */
export function warmCompression(): void {
  thread.warm();
}

export function pack(value: unknown): Buffer {
  return compressText(JSON.stringify(value));
}

/**
 * The JSON text each object was packed from by packAsync: the after snapshot's dictionary and the
 * journal's line reuse it instead of serialising the agent again (~11 KB of text for a 3 KB prompt with
 * non-ASCII text, twice per agent). Weak: an entry lives as long as its agent object.
 */
const packedTexts = new WeakMap<object, string>();

/** `value`'s JSON text — exactly the text packAsync packed it from, if it did. */
export function jsonText(value: object): string {
  return packedTexts.get(value) ?? JSON.stringify(value);
}

/** `pack` on the compression thread (pack-thread.ts): for the engine's hot path. */
export function packAsync(value: unknown): Promise<Buffer> {
  const text = JSON.stringify(value);
  if (typeof value === 'object' && value !== null) packedTexts.set(value, text);
  return thread.compress(text);
}

export function unpack<T>(buffer: Buffer): T {
  return JSON.parse(unpackText(buffer)) as T;
}

/** The JSON text a `pack`ed value was made from — exactly, byte for byte (the dictionary of its delta). */
export function unpackText(buffer: Buffer): string {
  return brotliDecompressSync(buffer).toString('utf8');
}

/** `value` compressed against `dictionary` (the before snapshot's JSON text). */
export function packAgainst(value: unknown, dictionary: string): Buffer {
  return compressText(JSON.stringify(value), dictionary);
}

/** `packAgainst` on the compression thread (see packAsync). */
export function packAgainstAsync(value: unknown, dictionary: string): Promise<Buffer> {
  return thread.compress(JSON.stringify(value), dictionary);
}

export function unpackAgainst<T>(buffer: Buffer, dictionary: string): T {
  return JSON.parse(inflateRawSync(buffer, { dictionary: Buffer.from(dictionary) }).toString('utf8')) as T;
}
