/**
 * A later attempt never silently reverts someone else's edit (issue 14): an agent whose first attempt
 * recorded its before snapshot and then failed, edited by someone else before the next attempt, ends
 * `conflict` and is left alone; `retry --force` applies it anyway. A later attempt with no edit in
 * between applies as before.
 */
import { describe, expect, it } from 'vitest';
import { NovaClient } from '../src/api/client.js';
import { retryBatch } from '../src/ops/actions.js';
import { submitBatch } from '../src/ops/create-batch.js';
import { BatchStore } from '../src/store/batch-store.js';
import { agentKey } from '../src/store/keys.js';
import { engineFixtures, FAST, workToEnd } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('retry-conflict');

describe('a retry after a third-party edit', () => {
  it('is a conflict, left alone; retry --force applies it', async () => {
    const api = await startMock({ agents: 4 });
    const [edited, untouched, ...rest] = api.agentIds();
    const prefix = testPrefix('retry-conflict');
    const store = new BatchStore(redis, prefix);
    await submitBatch({ store, file: manifest('ours.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Ours', goodbye_config: { message: 'Bye from us' } } }))), manifestOptions: {}, batchId: 'rc-1', options: FAST });
    // Two agents whose first attempt read them (their before snapshot is recorded) and then failed.
    for (const a of [edited!, untouched!]) await store.saveBefore('rc-1', agentKey(a.org_id, a.agent_id), api.agent(a.org_id, a.agent_id)!);
    // Someone else edits one of them meanwhile — a touched nested field.
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
    const theirs = { ...(api.agent(edited!.org_id, edited!.agent_id)!.goodbye_config as object), message: 'Bye from them' };
    await client.patchAgent(edited!.org_id, edited!.agent_id, { goodbye_config: theirs });

    const first = await workToEnd(api, prefix, 'rc-1');
    expect(first.counts).toMatchObject({ applied: 3, conflict: 1, failed: 0 });
    const record = (await store.agentRecord('rc-1', agentKey(edited!.org_id, edited!.agent_id)))!;
    expect(record.status).toBe('conflict');
    expect(record.error).toBe('changed by someone else since the first attempt: goodbye_config (left alone; `nova-fleet retry rc-1 --force` applies anyway)');
    expect(api.agent(edited!.org_id, edited!.agent_id)!.goodbye_config).toEqual(theirs);
    expect(api.agent(edited!.org_id, edited!.agent_id)!.name).not.toBe('Ours');
    for (const a of [untouched!, ...rest]) expect(api.agent(a.org_id, a.agent_id)!.name).toBe('Ours');

    const { retried } = await retryBatch(store, 'rc-1', { force: true });
    expect(retried).toBe(1);
    const second = await workToEnd(api, prefix, 'rc-1');
    expect(second.counts).toMatchObject({ applied: 4, conflict: 0 });
    expect((api.agent(edited!.org_id, edited!.agent_id)!.goodbye_config as { message: string }).message).toBe('Bye from us');
    client.close();
  }, 30_000);
});
