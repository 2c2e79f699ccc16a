/**
 * The history index's layout (issue 29, SPEC §16): an org's agents share 256 bucket keys, so the index
 * costs an entry per agent-version rather than a key per agent; one agent's entries never include a
 * neighbour's whose id begins alike; entries another writer left malformed name nothing.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchStore } from '../src/store/batch-store.js';
import { connectRedis } from '../src/store/connect.js';
import { HISTORY_BUCKETS, historyBucketOf, Keys } from '../src/store/keys.js';
import { keysUnder, REDIS_URL, testPrefix } from './helpers/redis.js';

const redis = connectRedis(REDIS_URL);
const plain = new Redis(REDIS_URL);
afterAll(() => {
  redis.disconnect();
  plain.disconnect();
});

const agent = (id: string) => ({ id, name: id, prompt_template: 'p', updated_at: '2026-01-01T00:00:00Z' }) as never;

describe('history index', () => {
  it('an org of 2,000 agents takes at most 256 keys; each agent reads back its own batches, oldest first', async () => {
    const prefix = testPrefix('hindex');
    const store = new BatchStore(redis, prefix);
    const ids = Array.from({ length: 2000 }, (_, i) => `agent-${i}`);
    for (const batch of ['b1', 'b2']) {
      for (let i = 0; i < ids.length; i += 200) await Promise.all(ids.slice(i, i + 200).map((id) => store.saveBefore(batch, `org-1/${id}`, agent(id))));
    }
    const keys = (await keysUnder(plain, prefix)).filter((k) => k.includes(':history:'));
    expect(keys.length).toBeGreaterThan(200);
    expect(keys.length).toBeLessThanOrEqual(HISTORY_BUCKETS);
    // `agent-1` shares its first characters with agent-10…agent-1999: none of theirs is its.
    expect((await store.history.of('org-1/agent-1')).map((m) => m.batchId)).toEqual(['b1', 'b2']);
    const entries = [];
    for await (const page of store.history.entries('org-1')) entries.push(...page);
    expect(entries).toHaveLength(2000);
    expect(new Set(entries.map((e) => e.key)).size).toBe(2000);
    expect(entries.every((e) => e.marks.map((m) => m.batchId).join() === 'b1,b2')).toBe(true);
    // A second attempt of the same batch keeps the first time.
    const [first] = await store.history.of('org-1/agent-7');
    await new Promise((r) => setTimeout(r, 5));
    await store.saveBefore('b1', 'org-1/agent-7', agent('agent-7'));
    expect((await store.history.of('org-1/agent-7'))[0]).toEqual(first);
    // Another org's agents are not this org's.
    await store.saveBefore('b3', 'org-2/agent-1', agent('agent-1'));
    const org1 = [];
    for await (const page of store.history.entries('org-1')) org1.push(...page);
    expect(org1.some((e) => e.marks.some((m) => m.batchId === 'b3'))).toBe(false);
    // A prune drops the batch's entries.
    await store.history.forget('b1', ids.map((id) => `org-1/${id}`));
    expect((await store.history.of('org-1/agent-1')).map((m) => m.batchId)).toEqual(['b2']);
  }, 60_000);

  it('entries another writer left malformed are skipped, never read as a batch', async () => {
    const prefix = testPrefix('hindex-bad');
    const store = new BatchStore(redis, prefix);
    const bucket = new Keys(prefix).history('org-1/agent-1');
    expect(bucket).toBe(`${prefix}:history:{org-1#${historyBucketOf('agent-1').toString(16).padStart(2, '0')}}`);
    await plain.zadd(bucket, 1, 'agent-1/ok-batch', 2, 'agent-1/../../etc', 3, 'agent-1/a b', 4, 'agent-1');
    expect(await store.history.of('org-1/agent-1')).toEqual([{ batchId: 'ok-batch', at: 1 }]);
  });

  it('buckets spread ids evenly (FNV-1a): 25,600 ids, no bucket more than twice its share', () => {
    const counts = new Array<number>(HISTORY_BUCKETS).fill(0);
    for (let i = 0; i < 25_600; i++) counts[historyBucketOf(`3c4ffd02-${i.toString(16).padStart(4, '0')}-agent`)]!++;
    expect(Math.max(...counts)).toBeLessThan(200);
    expect(Math.min(...counts)).toBeGreaterThan(40);
    // Fixed, so that every process and version places an agent alike.
    expect(historyBucketOf('agent-1')).toBe(historyBucketOf('agent-1'));
    expect([historyBucketOf(''), historyBucketOf('a')]).toEqual([0x811c9dc5 % 256, 0xe40c292c % 256]);
  });
});
