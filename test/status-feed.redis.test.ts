/**
 * The status feed (store/status-feed.ts): every Lua step that takes a batch away from `running` — a
 * transition (pause, cancel, halt…), the API-outage halt, the error-budget halt inside an agent's
 * finish — publishes it, and a worker's feed counts it. A step that forgot would let a gate trust a
 * status read before the change (api-calls.ts); these cases fail when the PUBLISH is taken out.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BatchStore } from '../src/store/batch-store.js';
import type { BatchMeta } from '../src/batch/records.js';
import type { StatusFeed } from '../src/store/status-feed.js';
import { agentKey } from '../src/store/keys.js';
import { engineFixtures } from './helpers/engine.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { redis } = engineFixtures('status-feed');
let feeds: StatusFeed[] = [];
afterEach(() => {
  for (const feed of feeds) feed.close();
  feeds = [];
});

async function setUp(name: string, extra: Partial<BatchMeta> = {}) {
  const store = new BatchStore(redis, testPrefix(name));
  await store.createBatch({ id: name, kind: 'rollout', manifest: 'm', digest: 'd', createdAt: Date.now(), status: 'running', total: 0, enqueued: true, options: { rate: 10, attempts: 1, backoffMs: 1, backoffCapMs: 1 }, ...extra });
  const feed = store.openStatusFeed(REDIS_URL);
  feeds.push(feed);
  for (let i = 0; i < 200 && feed.version() === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  expect(feed.version()).toBeDefined(); // live: subscribed and acknowledged
  return { store, feed };
}

/** Resolves with the feed's version once it differs from `from` (or undefined after 2 s). */
async function changed(feed: StatusFeed, from: number | undefined): Promise<number | undefined> {
  for (let i = 0; i < 200; i++) {
    const now = feed.version();
    if (now !== undefined && now !== from) return now;
    await new Promise((r) => setTimeout(r, 10));
  }
  return undefined;
}

describe('the status feed', () => {
  it('counts a transition (pause)', async () => {
    const { store, feed } = await setUp('feed-pause');
    const before = feed.version();
    expect(await store.transition('feed-pause', 'paused', ['running'])).toBe('running');
    const after = await changed(feed, before);
    expect(after).toBe(before! + 1);
  });

  it('counts the API-outage halt', async () => {
    const { store, feed } = await setUp('feed-outage');
    const before = feed.version();
    // An outage limit of 0 ms: the first trouble halts the batch.
    expect(await store.noteApiTrouble('feed-outage', 0, 0, 'api_unreachable: test')).toBe('halted');
    expect(await changed(feed, before)).toBe(before! + 1);
  });

  it("counts the error-budget halt made inside an agent's finish", async () => {
    const { store, feed } = await setUp('feed-budget', { maxFailures: 0 });
    const key = agentKey('org-1', 'agent-1');
    await store.register('feed-budget', [key]);
    const before = feed.version();
    expect(await store.finish('feed-budget', key, 'failed', ['pending'], { error: 'x' })).toBe(true);
    expect((await store.getBatch('feed-budget'))!.status).toBe('halted');
    expect(await changed(feed, before)).toBe(before! + 1);
  });

  it('is not live once closed (gates then read the status fresh)', async () => {
    const { feed } = await setUp('feed-closed');
    feed.close();
    expect(feed.version()).toBeUndefined();
  });
});
