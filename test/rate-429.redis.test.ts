/**
 * 429s (SPEC §5), pinned so that each of the two mutations issue 14 found uncaught now fails a test:
 * a 429 must push the batch's schedule back and halve its rate (else the batch keeps hammering an API
 * that said "slow down"), and a 429 must never use up an attempt (else a busy API fails agents).
 */
import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../src/worker/rate-limiter.js';
import { BatchStore } from '../src/store/batch-store.js';
import { engineFixtures, runToEnd } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('rate-429');

describe('the rate limiter', () => {
  it('a 429 pushes the shared schedule back by its Retry-After and halves the rate', async () => {
    const store = new BatchStore(redis, testPrefix('limiter'));
    await store.createBatch({ id: 'l-1', kind: 'rollout', manifest: 'm', digest: 'd', createdAt: Date.now(), status: 'running', total: 0, enqueued: true, options: { rate: 10, attempts: 1, backoffMs: 1, backoffCapMs: 1 } });
    const sleeps: number[] = [];
    const limiter = new RateLimiter(store, 'l-1', () => 10, async (ms) => void sleeps.push(ms));
    await limiter.acquire();
    expect(limiter.effectiveRate).toBe(10);
    await limiter.penalize(1500);
    const slot = await limiter.acquire();
    // The next slot is at least the Retry-After away (a little less: time passed since the 429).
    expect(slot.waitedMs).toBeGreaterThan(1300);
    expect(limiter.effectiveRate).toBeCloseTo(5, 0);
    expect(slot.status).toBe('running');
  });

  it('a slot reserved before this process met a 429 is stale; one reserved after it is not', async () => {
    const store = new BatchStore(redis, testPrefix('limiter-stale'));
    await store.createBatch({ id: 'l-2', kind: 'rollout', manifest: 'm', digest: 'd', createdAt: Date.now(), status: 'running', total: 0, enqueued: true, options: { rate: 10, attempts: 1, backoffMs: 1, backoffCapMs: 1 } });
    const limiter = new RateLimiter(store, 'l-2', () => 10, async () => {});
    const before = await limiter.acquire();
    expect(limiter.stale(before)).toBe(false);
    await limiter.penalize(100);
    expect(limiter.stale(before)).toBe(true);
    expect(limiter.stale(await limiter.acquire())).toBe(false);
  });
});

describe('an API that answers 429', () => {
  it('slows the batch down without failing anyone, even with a single attempt per agent', async () => {
    // The API allows 5 requests/s; the batch asks for 50 and has one attempt per agent.
    const api = await startMock({ agents: 10, rateLimit: 5, burst: 1 });
    const prefix = testPrefix('api-429');
    const file = manifest('429.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Slowly' } })));
    const { counts } = await runToEnd(api, prefix, file, 'r429-1', { rate: 50, attempts: 1, backoffMs: 20, backoffCapMs: 200 }, { concurrency: 4 });
    expect(counts).toMatchObject({ applied: 10, failed: 0 });
    const stats = api.stats();
    const limited = stats.byStatus['429'] ?? 0;
    expect(limited).toBeGreaterThan(0); // the test really met 429s
    // With the schedule pushed back and the rate halved, most requests get through: 39% 429s here, 46%
    // with six busy loops beside the suite (the floor of the rate, 5/s, is the API's own limit: timer
    // jitter decides). Without the push-back and the halving (penalize.lua a no-op): 72% (90% before
    // the slots reserved ahead of a 429 were given up).
    expect(limited / stats.total).toBeLessThan(0.6);
    // Each 429 asks for 1 s of quiet (the mock's smallest Retry-After), kept even by the requests whose
    // slots were reserved before it: about 14 of them, so the run takes 15–20 s.
  }, 60_000);
});
