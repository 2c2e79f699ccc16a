/**
 * Real Redis for tests: every test file works under its own key prefix and removes every key under it
 * afterwards, so files run in parallel and leave nothing behind on the shared server.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';

export const REDIS_URL = process.env.NOVA_FLEET_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const prefixes: string[] = [];

afterAll(async () => {
  const redis = new Redis(REDIS_URL);
  try {
    for (const prefix of prefixes.splice(0)) await deleteUnder(redis, prefix);
  } finally {
    redis.disconnect();
  }
});

/** A fresh prefix for this test file, cleaned after it. */
export function testPrefix(name: string): string {
  const prefix = `nft-${name}-${randomBytes(3).toString('hex')}`;
  prefixes.push(prefix);
  return prefix;
}

export async function deleteUnder(redis: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}
