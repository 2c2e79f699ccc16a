/**
 * Writes a JSON manifest as its rows come — `{"defaults"?: …, "agents": [` then a row per line — for the
 * manifests nova-fleet makes itself (an expanded selector, a plan's rows), which are then read back
 * through the same streaming reader and validation as any manifest.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';

export class JsonManifestWriter {
  readonly #sink: WriteStream;
  #rows = 0;
  #opened: Promise<void>;
  /** A write failure (a full disk), kept until the next call can throw it. */
  #failure: Error | undefined;

  constructor(file: string, defaults?: unknown) {
    this.#sink = createWriteStream(file);
    this.#sink.on('error', (error) => (this.#failure ??= error));
    this.#opened = this.#write(`{${defaults !== undefined ? `"defaults": ${JSON.stringify(defaults)},\n` : ''}"agents": [\n`);
  }

  get rows(): number {
    return this.#rows;
  }

  async add(row: unknown): Promise<void> {
    await this.#opened;
    if (this.#failure) throw this.#failure;
    await this.#write(`${this.#rows++ === 0 ? '' : ',\n'}${JSON.stringify(row)}`);
  }

  /** Ends the manifest (`complete`) or just the file (after a failure); waits until it is written. */
  async close(complete: boolean): Promise<void> {
    await this.#opened.catch(() => {});
    if (!this.#sink.destroyed) {
      this.#sink.end(complete ? '\n]}\n' : undefined);
      await once(this.#sink, 'close');
    }
    if (complete && this.#failure) throw this.#failure;
  }

  async #write(text: string): Promise<void> {
    if (!this.#sink.write(text)) await once(this.#sink, 'drain');
  }
}
