/**
 * Snapshot compression on a thread of its own. Node's zlib allocates and frees a compressor's state
 * (hundreds of KB) for every call — on the calling thread even for its async form — and that, with
 * the compression itself, cost the event loop that answers the other jobs' requests about 0.3 ms per
 * agent. Here the main thread only hands over the JSON text and gets the bytes back (transferred).
 *
 * One thread, made on first use, unref'd while nothing is pending (it never keeps a process alive).
 * If a thread cannot be made or dies, the compression runs on the caller's thread instead: slower,
 * never wrong.
 */
import { Worker } from 'node:worker_threads';

/** The compressor's whole code: a CommonJS script (evaluated, so it needs no file next to the build). */
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const zlib = require('node:zlib');
parentPort.on('message', (tasks) => {
  const replies = [];
  const transfer = [];
  for (const { id, text, dictionary } of tasks) {
    try {
      const input = Buffer.from(text);
      const out = dictionary === undefined ? zlib.brotliCompressSync(input, workerData.brotli) : zlib.deflateRawSync(input, { dictionary: Buffer.from(dictionary) });
      const bytes = new Uint8Array(out.byteLength);
      bytes.set(out);
      replies.push({ id, bytes });
      transfer.push(bytes.buffer);
    } catch (error) {
      replies.push({ id, error: String((error && error.message) || error) });
    }
  }
  parentPort.postMessage(replies, transfer);
});
`;

type Task = { id: number; text: string; dictionary: string | undefined };
type Reply = { id: number; bytes: Uint8Array } | { id: number; error: string };
type Waiter = { resolve: (bytes: Buffer) => void; reject: (error: Error) => void };

export class PackThread {
  #worker: Worker | undefined;
  #broken = false;
  readonly #waiting = new Map<number, Waiter>();
  #next = 0;
  /**
   * Calls made since the last hand-over, sent together once the event loop turns: a message costs the
   * main thread a wake-up of the other thread whatever its size (~20 µs each, 3,000 in a cold run).
   */
  #batch: Task[] = [];

  constructor(
    /** Brotli options for a text without a dictionary (the before snapshot's). */
    private readonly brotli: object,
    /** The same work on the caller's thread, for when no thread can be had. */
    private readonly fallback: (text: string, dictionary?: string) => Buffer,
  ) {}

  /** Starts the thread now (it takes ~50 ms to answer its first message), not at the first call. */
  warm(): void {
    this.#thread();
  }

  /** `text` compressed: brotli alone, or raw deflate with `dictionary` as its preset dictionary. */
  compress(text: string, dictionary?: string): Promise<Buffer> {
    const worker = this.#thread();
    if (!worker) return Promise.resolve(this.fallback(text, dictionary));
    const id = this.#next++;
    return new Promise<Buffer>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      if (this.#waiting.size === 1) worker.ref();
      const batch = this.#batch;
      if (batch.push({ id, text, dictionary }) === 1) setImmediate(() => this.#flush(worker, batch));
    });
  }

  #flush(worker: Worker, tasks: Task[]): void {
    if (this.#batch === tasks) this.#batch = [];
    // The thread may have been lost since: these tasks' callers were failed with it.
    if (this.#worker === worker) worker.postMessage(tasks);
  }

  #thread(): Worker | undefined {
    if (this.#worker || this.#broken) return this.#worker;
    let worker: Worker;
    try {
      // The source is CommonJS: an `--input-type=module` of this process must not reach the thread.
      const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--input-type'));
      worker = new Worker(SOURCE, { eval: true, execArgv, workerData: { brotli: this.brotli } });
    } catch {
      this.#broken = true;
      return undefined;
    }
    worker.on('message', (replies: Reply[]) => {
      for (const reply of replies) {
        const waiter = this.#waiting.get(reply.id);
        if (!waiter) continue;
        this.#waiting.delete(reply.id);
        if ('error' in reply) waiter.reject(new Error(`compression failed: ${reply.error}`));
        else waiter.resolve(Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength));
      }
      if (this.#waiting.size === 0) worker.unref();
    });
    const lost = (error: Error) => {
      // Whatever was pending is lost with the thread: those callers fail (their job is retried); the
      // next call makes a new thread.
      if (this.#worker === worker) this.#worker = undefined;
      for (const waiter of this.#waiting.values()) waiter.reject(error);
      this.#waiting.clear();
      this.#batch = [];
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`the compression thread exited (${code})`)));
    // After the listeners: adding a 'message' listener refs the thread's port again (a thread made
    // by warm() and never used then kept the process from ending).
    worker.unref();
    this.#worker = worker;
    return worker;
  }
}
