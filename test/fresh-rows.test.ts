/** The list rows an applied plan's agents are confirmed by (worker/fresh-rows.ts), on a clock held still. */
import { describe, expect, it } from 'vitest';
import type { AgentPage } from '../src/api/types.js';
import { FreshRows } from '../src/worker/fresh-rows.js';

function org(rows: Array<[string, string]>, size = 2) {
  const reads: number[] = [];
  const readPage = async (_org: string, page: number): Promise<AgentPage> => {
    reads.push(page);
    const data = rows.slice((page - 1) * size, page * size).map(([id, updated_at]) => ({ id, updated_at }));
    return { data, meta: { page, size, total: rows.length, total_pages: Math.ceil(rows.length / size) } };
  };
  return { readPage, reads };
}

describe('fresh list rows', () => {
  it('reads an org once for many agents, every page; again only when its rows are older than the freshness', async () => {
    let now = 1_000;
    const { readPage, reads } = org([['a', 't1'], ['b', 't2'], ['c', 't3']]);
    const fresh = new FreshRows(readPage, () => 30_000, () => now);
    expect(await Promise.all([fresh.updatedAt('o', 'a'), fresh.updatedAt('o', 'c'), fresh.updatedAt('o', 'b')])).toEqual(['t1', 't3', 't2']);
    expect(reads).toEqual([1, 2]); // one read, shared
    now += 20_000;
    expect(await fresh.updatedAt('o', 'b')).toBe('t2');
    expect(reads).toEqual([1, 2]);
    now += 15_000; // 35 s after the read: stale, read again
    expect(await fresh.updatedAt('o', 'b')).toBe('t2');
    expect(reads).toEqual([1, 2, 1, 2]);
  });

  it('an agent not on the list is not confirmed, and does not make every job read the org again', async () => {
    const now = 1_000;
    const { readPage, reads } = org([['a', 't1']]);
    const fresh = new FreshRows(readPage, () => 30_000, () => now);
    expect(await fresh.updatedAt('o', 'gone')).toBeUndefined();
    expect(await fresh.updatedAt('o', 'gone-too')).toBeUndefined();
    expect(reads).toEqual([1]);
  });

  it('a failed page read is the job’s to handle (it falls back to a GET); the next one reads again', async () => {
    let fail = true;
    const fresh = new FreshRows(async (_org, page) => {
      if (fail) throw new Error('503');
      return { data: [{ id: 'a', updated_at: 't1' }], meta: { page, size: 100, total: 1, total_pages: 1 } };
    }, () => 30_000);
    await expect(fresh.updatedAt('o', 'a')).rejects.toThrow('503');
    fail = false;
    expect(await fresh.updatedAt('o', 'a')).toBe('t1');
  });
});
