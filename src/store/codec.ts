/**
 * Snapshots are stored compressed (SPEC §7: a fleet with multi-KB prompts must fit in a modest Redis).
 * Brotli at a middle quality: prompts are prose and compress several-fold; level 5 keeps a 4 KB agent
 * well under a millisecond.
 */
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';

const OPTIONS = { params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } };

export function pack(value: unknown): Buffer {
  return brotliCompressSync(Buffer.from(JSON.stringify(value)), OPTIONS);
}

export function unpack<T>(buffer: Buffer): T {
  return JSON.parse(brotliDecompressSync(buffer).toString('utf8')) as T;
}
