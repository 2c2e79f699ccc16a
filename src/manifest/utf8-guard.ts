/**
 * A pass-through for manifest bytes that rejects invalid UTF-8 with the line it is on, and drops a
 * leading byte-order mark. Readers downstream then decode without ever meeting U+FFFD replacement
 * characters, which would otherwise silently change an agent's prompt.
 */
import { isUtf8 } from 'node:buffer';
import { FatalManifestError } from './errors.js';

const NEWLINE = 0x0a;

function countNewlines(buf: Uint8Array, end = buf.length): number {
  let n = 0;
  for (let i = (buf as Buffer).indexOf(NEWLINE); i !== -1 && i < end; i = (buf as Buffer).indexOf(NEWLINE, i + 1)) n++;
  return n;
}

/** Index after the last complete UTF-8 sequence (the rest may continue in the next chunk). */
function completeUpTo(buf: Buffer): number {
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const b = buf[buf.length - back]!;
    if ((b & 0xc0) !== 0x80) {
      // A lead byte: is its sequence complete?
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      return need > back ? buf.length - back : buf.length;
    }
  }
  return buf.length;
}

/** Offset of the first invalid byte in `buf` (which is known to be invalid). */
function firstInvalid(buf: Buffer): number {
  for (let i = 0; i < buf.length; ) {
    const b = buf[i]!;
    const need = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (need === 0 || i + need > buf.length || !isUtf8(buf.subarray(i, i + need))) return i;
    i += need;
  }
  return buf.length;
}

/**
 * Wrap a byte source: yields the same bytes (BOM removed), throws FatalManifestError on invalid UTF-8.
 */
export async function* utf8Guard(source: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
  let carry: Buffer = Buffer.alloc(0);
  let line = 1;
  let first = true;
  const fail = (buf: Buffer): never => {
    const at = firstInvalid(buf);
    throw new FatalManifestError({
      line: line + countNewlines(buf, at),
      field: 'manifest',
      message: `invalid UTF-8 (byte 0x${(buf[at] ?? 0).toString(16).padStart(2, '0')}); save the file as UTF-8`,
    });
  };
  for await (const piece of source) {
    let buf = carry.length > 0 ? Buffer.concat([carry, Buffer.from(piece)]) : Buffer.from(piece);
    if (first && buf.length >= 3) {
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) buf = buf.subarray(3);
      first = false;
    } else if (first) {
      carry = buf;
      continue;
    }
    const cut = completeUpTo(buf);
    const ready = buf.subarray(0, cut);
    carry = Buffer.from(buf.subarray(cut));
    if (!isUtf8(ready)) fail(ready);
    line += countNewlines(ready);
    if (ready.length > 0) yield ready;
  }
  if (carry.length > 0) {
    if (first && carry[0] === 0xef && carry[1] === 0xbb && carry[2] === 0xbf) carry = carry.subarray(3);
    if (!isUtf8(carry)) fail(carry);
    if (carry.length > 0) yield carry;
  }
}
