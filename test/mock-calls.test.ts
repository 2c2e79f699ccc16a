/**
 * The mock's simulated calls (SPEC §14, src/mock/calls.ts), read through the product's own client over
 * HTTP: the documented quality rule, paging, determinism, calls in progress, and the checks of the query.
 */
import { describe, expect, it } from 'vitest';
import type { CallRow } from '../src/api/types.js';
import { NovaApiError } from '../src/api/errors.js';
import { clientFor, rejection, startMock } from './helpers/mock.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function allCalls(client: ReturnType<typeof clientFor>, org: string, from: number, to: number): Promise<CallRow[]> {
  const rows: CallRow[] = [];
  for (let page = 1; ; page++) {
    const result = await client.listCallsPage(org, { from, to }, page);
    rows.push(...result.data);
    if (page >= result.meta.total_pages) return rows;
  }
}

const completion = (rows: CallRow[]) => rows.filter((r) => r.status === 'completed').length / rows.length;

describe('the mock’s simulated calls', () => {
  it('complete ~90% of the time, ~60% while the agent’s config holds the bad marker — read after the change only', async () => {
    const api = await startMock({ agents: 4, orgs: 1, callsPerMin: 6000, callMs: 100, badMarker: 'HANG UP' });
    const client = clientFor(api);
    const [org] = api.orgIds;
    const bad = api.agentIds()[0]!.agent_id;
    const start = Date.now();
    await sleep(1200);
    const changedAt = Date.now();
    await client.patchAgent(org!, bad, { name: 'Ava — HANG UP on every caller' });
    await sleep(1500);
    const end = Date.now() - 200; // every call of the interval over (calls last 100 ms)
    const before = await allCalls(client, org!, start, changedAt);
    const after = await allCalls(client, org!, changedAt + 50, end);
    // ~100 calls a second per agent: a few hundred in each cohort.
    const afterBad = after.filter((r) => r.initial_agent_id === bad);
    const afterGood = after.filter((r) => r.initial_agent_id !== bad);
    expect(before.length).toBeGreaterThan(300);
    expect(afterBad.length).toBeGreaterThan(80);
    expect(completion(before)).toBeGreaterThan(0.84);
    expect(completion(before)).toBeLessThan(0.96);
    expect(completion(afterGood)).toBeGreaterThan(0.84);
    expect(completion(afterBad)).toBeGreaterThan(0.45);
    expect(completion(afterBad)).toBeLessThan(0.75);
    // Calls that did not complete carry one of the vendor's other statuses.
    expect(new Set(before.map((r) => r.status))).toEqual(new Set(['completed', 'failed', 'no-answer', 'busy']));
    for (const row of after) expect(Date.parse(row.started_at!)).toBeGreaterThanOrEqual(changedAt + 50);
  });

  it('the same interval reads the same calls every time; pages of 100 neither repeat nor skip; a call still going is in-progress', async () => {
    const api = await startMock({ agents: 3, orgs: 1, callsPerMin: 3000, callMs: 5000 });
    const client = clientFor(api);
    const [org] = api.orgIds;
    const start = Date.now();
    await sleep(700);
    const end = Date.now();
    const first = await allCalls(client, org!, start, end);
    const again = await allCalls(client, org!, start, end);
    expect(first.length).toBeGreaterThan(60);
    expect(again.map((r) => r.id)).toEqual(first.map((r) => r.id));
    expect(new Set(first.map((r) => r.id)).size).toBe(first.length);
    const starts = first.map((r) => r.started_at!);
    expect([...starts].sort()).toEqual(starts);
    // 5 s calls, read within a second: none is over yet.
    expect(first.every((r) => r.status === 'in-progress' && r.ended_at === null)).toBe(true);
  });

  it('without --calls-per-min the list is empty; a bad date or page size is the API’s 400', async () => {
    const api = await startMock({ agents: 2, orgs: 1 });
    const client = clientFor(api);
    const [org] = api.orgIds;
    const page = await client.listCallsPage(org!, { from: Date.now() - 60_000, to: Date.now() }, 1);
    expect(page).toMatchObject({ data: [], meta: { total: 0 } });
    const raw = await fetch(`${api.url}/org/${org}/calls?start_date=yesterday`, { headers: { 'x-api-key': api.apiKey } });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toEqual({ detail: 'start_date: not an ISO 8601 date-time: yesterday' });
    const big = await fetch(`${api.url}/org/${org}/calls?size=101`, { headers: { 'x-api-key': api.apiKey } });
    expect(big.status).toBe(400);
    const error = await rejection<NovaApiError>(clientFor(api, { apiKey: 'wrong' }).listCallsPage(org!, { from: 0, to: Date.now() }, 1));
    expect(error.kind).toBe('auth');
  });
});
