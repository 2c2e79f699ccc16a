/**
 * A job read from Redis is untrusted (issue 13: a job rewritten through bull-board had its patch
 * applied to an agent unchecked): its patch passes the manifest's checks before any request.
 */
import { describe, expect, it } from 'vitest';
import { jobId } from '../src/engine/jobs.js';
import { submitBatch } from '../src/engine/submit.js';
import { BatchStore } from '../src/store/batch-store.js';
import { agentKey } from '../src/store/keys.js';
import { engineFixtures, FAST, workToEnd } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('hostile-job');

describe('a job rewritten in Redis', () => {
  it('with a read-only or unknown field fails that agent, which is left untouched', async () => {
    const api = await startMock({ agents: 3 });
    const [target, ...rest] = api.agentIds();
    const original = api.agent(target!.org_id, target!.agent_id)!;
    const prefix = testPrefix('hostile-job');
    const store = new BatchStore(redis, prefix);
    await submitBatch({ store, file: manifest('job.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Fine' } }))), manifestOptions: {}, batchId: 'job-1', options: FAST });
    const key = agentKey(target!.org_id, target!.agent_id);
    const queue = store.queue('job-1');
    await (await queue.getJob(jobId(key)))!.updateData({ k: key, l: 1, i: { organization_id: 'other-org', name: 'Hijacked' } });
    await queue.close();
    const { counts } = await workToEnd(api, prefix, 'job-1');
    expect(counts).toMatchObject({ applied: 2, failed: 1 });
    const record = (await store.agentRecord('job-1', key))!;
    expect(record.error).toContain("the job's patch is not valid (changed in Redis since submit?): organization_id: read-only field");
    expect(api.agent(target!.org_id, target!.agent_id)).toEqual(original);
    for (const a of rest) expect(api.agent(a.org_id, a.agent_id)!.name).toBe('Fine');
  });
});
