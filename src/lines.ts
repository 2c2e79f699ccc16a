/**
 * Lines of a byte stream, split on bytes with a length bound: one 2 GB line costs a bounded buffer and
 * one `tooLong` item, not the process. Used for every line-based file that crosses our boundary
 * (NDJSON manifests, plan files).
 */
export type Line = { line: number; text: string } | { line: number; tooLong: true };

export async function* splitLines(bytes: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<Line> {
  let line = 1;
  let parts: Buffer[] = [];
  let size = 0;
  let tooLong = false;
  const finish = (): Line => {
    const item: Line = tooLong ? { line, tooLong: true } : { line, text: Buffer.concat(parts).toString('utf8').replace(/\r$/, '') };
    line++;
    parts = [];
    size = 0;
    tooLong = false;
    return item;
  };
  for await (const chunk of bytes) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); ; nl = chunk.indexOf(0x0a, start)) {
      const end = nl === -1 ? chunk.length : nl;
      if (!tooLong) {
        size += end - start;
        if (size > maxBytes) {
          tooLong = true;
          parts = [];
        } else parts.push(chunk.subarray(start, end));
      }
      if (nl === -1) break;
      yield finish();
      start = nl + 1;
    }
  }
  if (size > 0 || tooLong) yield finish();
}
