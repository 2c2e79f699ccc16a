/**
 * A key echoed in a 2xx agent never reaches a snapshot, a report or an export (issue 13): an agent
 * holding the key in one field is changed elsewhere with the key replaced by [redacted] in its
 * snapshots (and the report says so); a batch that would change that very field leaves the agent alone.
 */
import { describe, expect, it } from 'vitest';
import { NovaClient } from '../src/api/client.js';
import { reportRows } from '../src/views/report.js';
import { agentKey } from '../src/store/keys.js';
import { engineFixtures, runToEnd } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { testPrefix } from './helpers/redis.js';

const { manifest } = engineFixtures('echo-engine');
const KEY = 'sk-live-ECHOED-in-a-webhook-0123456789';

describe('a key the API sends back inside an agent', () => {
  it('is stored as [redacted] and said in the report; a patch of that field leaves the agent alone', async () => {
    const api = await startMock({ agents: 2, apiKey: KEY });
    const [a, b] = api.agentIds();
    const client = new NovaClient({ baseUrl: api.url, apiKey: KEY });
    for (const agent of [a!, b!]) {
      await client.patchAgent(agent.org_id, agent.agent_id, { precall_webhook: { method: 'POST', url: 'https://hooks.test/nova', headers: { authorization: `Bearer ${KEY}` } } });
    }
    client.close();
    const prefix = testPrefix('echo-engine');
    const file = manifest('echo.ndjson', [
      { ...a, patch: { name: 'Renamed' } },
      { ...b, patch: { precall_webhook: { url: 'https://hooks.test/v2' } } },
    ]);
    const { store, counts } = await runToEnd(api, prefix, file, 'echo-1', undefined, { apiKey: KEY });
    expect(counts).toMatchObject({ applied: 1, failed: 1 });
    const rows = [];
    for await (const row of reportRows(store, 'echo-1', { snapshots: true })) rows.push(row);
    expect(JSON.stringify(rows)).not.toContain(KEY);
    const renamed = rows.find((r) => r.agent_id === a!.agent_id)!;
    expect(renamed.status).toBe('applied');
    expect(renamed.error).toBe('note: the API echoed the API key in precall_webhook; stored as [redacted]');
    const left = rows.find((r) => r.agent_id === b!.agent_id)!;
    expect(left.error).toContain('the API sent the API key inside precall_webhook; left unchanged');
    // The agent itself still has its real key: nothing wrote the placeholder back.
    expect(JSON.stringify(api.agent(b!.org_id, b!.agent_id)!.precall_webhook)).toContain(KEY);
    expect((await store.agentRecord('echo-1', agentKey(a!.org_id, a!.agent_id)))!.after!.name).toBe('Renamed');
  });
});
