/**
 * A connection's commands of one turn of the event loop go out in one write (store/connect.ts): ioredis
 * writes each command by itself, a system call each. Counted on the connection's own socket, against
 * the real Redis; after a reconnect (a new socket) too. Replies still come back to each command.
 */
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { connectRedis } from '../src/store/connect.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

/** How many times the socket hands data to the operating system (one `_write` or `_writev` each). */
function countWrites(socket: Socket): () => number {
  let writes = 0;
  const internal = socket as unknown as { _write: (...args: unknown[]) => void; _writev: (...args: unknown[]) => void };
  const write = internal._write.bind(socket);
  const writev = internal._writev.bind(socket);
  internal._write = (...args) => (writes++, write(...args));
  internal._writev = (...args) => (writes++, writev(...args));
  return () => writes;
}

describe('Redis commands of one turn', () => {
  it('go out in one write, and each gets its own reply; after a reconnect as well', async () => {
    const prefix = testPrefix('writes');
    const redis = connectRedis(REDIS_URL);
    try {
      await redis.ping();
      const burst = async () => {
        const writes = countWrites((redis as unknown as { stream: Socket }).stream);
        // 20 commands issued together, as 20 jobs' steps reach Redis in one turn of a busy worker.
        const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => redis.set(`${prefix}:k${i}`, `v${i}`).then(() => redis.get(`${prefix}:k${i}`))));
        expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`));
        // The 20 SETs in one write, then the 20 GETs (issued as their replies came) in as few.
        return writes();
      };
      expect(await burst()).toBeLessThanOrEqual(4);
      // A new socket after the connection drops: coalesced again.
      (redis as unknown as { stream: Socket }).stream.destroy();
      await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
      expect(await burst()).toBeLessThanOrEqual(4);
    } finally {
      redis.disconnect();
    }
  });
});
