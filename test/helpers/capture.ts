/** A writable stream that keeps what is written to it, for tests that read a command's words. */
import { Writable } from 'node:stream';

export function capture(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}
