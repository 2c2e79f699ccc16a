/**
 * Blocks of rate slots (rate-limiter.ts): at rates far above what a request's round trip can use, one
 * reservation takes several consecutive slots of the shared schedule and this process hands them out —
 * only while that is sound (no 429 since, the status feed live and silent since, slots still fresh).
 * Counted on a real BatchStore whose reservations are tallied on their way to Redis.
 */
import { describe, expect, it } from 'vitest';
import { BLOCK_SPAN_MS, MAX_BLOCK, RateLimiter, RECOVERY_MS } from '../src/worker/rate-limiter.js';
import { BatchStore } from '../src/store/batch-store.js';
import { engineFixtures } from './helpers/engine.js';
import { testPrefix } from './helpers/redis.js';

const { redis } = engineFixtures('rate-blocks');
const prefix = testPrefix('rate-blocks');

/** A real store whose slot reservations are counted (they still go to Redis). */
class CountingStore extends BatchStore {
  reservations: number[] = [];
  override reserveSlot(batchId: string, rate: number, recoveryMs: number, count = 1) {
    this.reservations.push(count);
    return super.reserveSlot(batchId, rate, recoveryMs, count);
  }
  override reserveSlots(batchId: string, rate: number, recoveryMs: number, keyId: string, windowMs: number, count = 1) {
    this.reservations.push(count);
    return super.reserveSlots(batchId, rate, recoveryMs, keyId, windowMs, count);
  }
}

let next = 0;
/**
 * The limiter's clock stands still unless a test moves it: a block's slots are dropped 2 ms after their
 * time, and on a loaded machine (CI beside the whole suite) a few awaits took longer than that.
 */
let now = 1_000_000;
async function limiterAt(rate: number, version: () => number | undefined = () => 1) {
  const store = new CountingStore(redis, prefix);
  const id = `rb-${next++}`;
  await store.createBatch({ id, kind: 'rollout', manifest: 'm', digest: 'd', createdAt: Date.now(), status: 'running', total: 0, enqueued: true, options: { rate, attempts: 1, backoffMs: 1, backoffCapMs: 1 } });
  const sleeps: number[] = [];
  const limiter = new RateLimiter(store, id, () => rate, async (ms) => void sleeps.push(ms), {}, version, () => now);
  return { store, limiter, sleeps, id };
}

describe('slots reserved in blocks at high rates', () => {
  it('one reservation serves MAX_BLOCK requests once the rate is known, each slot with the status it read', async () => {
    const { store, limiter } = await limiterAt(1_000_000);
    await limiter.acquire(); // the first learns the effective rate: one slot
    const slots = [];
    for (let i = 0; i < MAX_BLOCK; i++) slots.push(await limiter.acquire());
    expect(store.reservations).toEqual([1, MAX_BLOCK]);
    expect(slots.every((s) => s.status === 'running' && s.waitedMs === 0)).toBe(true);
    await limiter.acquire(); // the block is used up
    expect(store.reservations).toEqual([1, MAX_BLOCK, MAX_BLOCK]);
  });

  it('requests at once share one reservation rather than each reserving a block', async () => {
    const { store, limiter } = await limiterAt(1_000_000);
    await limiter.acquire();
    await Promise.all(Array.from({ length: MAX_BLOCK }, () => limiter.acquire()));
    expect(store.reservations).toEqual([1, MAX_BLOCK]);
  });

  it('without a live status feed every request reserves its own slot (its status read is the gate)', async () => {
    const { store, limiter } = await limiterAt(1_000_000, () => undefined);
    for (let i = 0; i < 5; i++) await limiter.acquire();
    expect(store.reservations).toEqual([1, 1, 1, 1, 1]);
  });

  it('a status change published since the block was reserved: the block is left, a fresh one reads the status', async () => {
    let version = 1;
    const { store, limiter, id } = await limiterAt(1_000_000, () => version);
    await limiter.acquire();
    await limiter.acquire();
    expect(store.reservations).toEqual([1, MAX_BLOCK]);
    await store.transition(id, 'paused', ['running']);
    version = 2;
    const slot = await limiter.acquire();
    expect(store.reservations).toEqual([1, MAX_BLOCK, MAX_BLOCK]);
    expect(slot.status).toBe('paused');
  });

  it('a 429 met since the block was reserved: the block is left', async () => {
    const { store, limiter } = await limiterAt(1_000_000);
    await limiter.acquire();
    await limiter.acquire();
    await limiter.penalize(1);
    await limiter.acquire(); // at once: the block's slots are still fresh
    expect(store.reservations).toEqual([1, MAX_BLOCK, MAX_BLOCK]);
  });

  it('(the same without the 429: the block goes on serving)', async () => {
    const { store, limiter } = await limiterAt(1_000_000);
    await limiter.acquire();
    await limiter.acquire();
    await store.penalizeSlots('elsewhere', 1, 0.1); // a round trip as long as the 429's, for another batch
    await limiter.acquire();
    expect(store.reservations).toEqual([1, MAX_BLOCK]);
  });

  it('slots left unused past their time are dropped, never sent late in a bunch', async () => {
    const { store, limiter } = await limiterAt(1_000_000);
    await limiter.acquire();
    await limiter.acquire();
    now += BLOCK_SPAN_MS + 1;
    await limiter.acquire();
    expect(store.reservations).toEqual([1, MAX_BLOCK, MAX_BLOCK]);
  });

  it('at ordinary rates every request reserves its own slot', async () => {
    const { store, limiter } = await limiterAt(200);
    for (let i = 0; i < 4; i++) await limiter.acquire();
    expect(store.reservations).toEqual([1, 1, 1, 1]);
  });

  it('a block holds its place in the shared schedule: the next reservation, from any process, comes after it', async () => {
    const { store, id } = await limiterAt(10);
    await store.reserveSlot(id, 10, RECOVERY_MS, 16);
    const { waitMs } = await store.reserveSlot(id, 10, RECOVERY_MS);
    // 16 slots at 10/s take 1.6 s of the schedule (less the time between the two calls, even on a busy
    // machine far below 0.5 s); one slot would have taken 0.1 s.
    expect(waitMs).toBeGreaterThan(1100);
    expect(waitMs).toBeLessThanOrEqual(1600);
  });
});
