/** The mock Nova API's own contract (SPEC §8), over real HTTP on loopback with fetch. */
import { describe, expect, it } from 'vitest';
import { WRITABLE_FIELDS } from '../src/patch/fields.js';
import { validatePatchBody } from '../src/patch/schema.js';
import { generateFleet } from '../src/mock/fleet.js';
import type { MockApi } from '../src/mock/server.js';
import { firstAgent, startMock } from './helpers/mock.js';

async function call(api: MockApi, method: string, path: string, init: { body?: unknown; key?: string | null; bearer?: boolean } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const key = init.key === undefined ? api.apiKey : init.key;
  if (key !== null) headers[init.bearer ? 'authorization' : 'x-api-key'] = init.bearer ? `Bearer ${key}` : key;
  const response = await fetch(api.url + path, {
    method,
    headers,
    ...(init.body !== undefined ? { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) } : {}),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
}

const agentPath = (api: MockApi) => {
  const { org, id } = firstAgent(api);
  return { org, id, path: `/org/${org}/agents/${id}` };
};

describe('generated fleet', () => {
  it('is the same for the same seed and different for another', () => {
    expect(generateFleet({ agents: 5, seed: 7 }).agents).toEqual(generateFleet({ agents: 5, seed: 7 }).agents);
    expect([...generateFleet({ agents: 5, seed: 7 }).agents.keys()]).not.toEqual([...generateFleet({ agents: 5, seed: 8 }).agents.keys()]);
  });

  it('gives every agent every documented field, valid against the API schema, with multi-KB prompts', () => {
    const { agents } = generateFleet({ agents: 50, orgs: 3, promptBytes: 3000 });
    for (const agent of agents.values()) {
      const writable = Object.fromEntries(Object.keys(WRITABLE_FIELDS).map((f) => [f, agent[f]]));
      expect(validatePatchBody(writable)).toEqual({ ok: true, value: writable });
      for (const field of ['id', 'organization_id', 'created_at', 'updated_at', 'public_quota', 'tools']) expect(agent).toHaveProperty(field);
      expect(String(agent.prompt_template).length).toBeGreaterThanOrEqual(3000);
    }
  });
});

describe('mock API: reads', () => {
  it('serves one agent and 404s an unknown one', async () => {
    const api = await startMock();
    const { org, id, path } = agentPath(api);
    expect((await call(api, 'GET', path)).body).toEqual(api.agent(org, id));
    expect(await call(api, 'GET', `/org/${org}/agents/nope`)).toMatchObject({ status: 404, body: { detail: 'Agent not found' } });
    expect((await call(api, 'GET', `/org/other-org/agents/${id}`)).status).toBe(404);
  });

  it('lists an org page by page, with search and type filters', async () => {
    const api = await startMock({ agents: 30, orgs: 1 });
    const org = api.orgIds[0]!;
    const page2 = await call(api, 'GET', `/org/${org}/agents?page=2&size=20`);
    expect(page2.body.meta).toEqual({ page: 2, size: 20, total: 30, total_pages: 2 });
    expect(page2.body.data).toHaveLength(10);
    expect(Object.keys(page2.body.data[0]).sort()).toEqual(['created_at', 'id', 'name', 'type', 'updated_at']);
    const voice = await call(api, 'GET', `/org/${org}/agents?size=100&type=voice`);
    expect(voice.body.data.every((a: { type: string }) => a.type === 'voice')).toBe(true);
    const name = String(api.agent(org, api.agentIds()[3]!.agent_id)!.name);
    const found = await call(api, 'GET', `/org/${org}/agents?search=${encodeURIComponent(name.toUpperCase())}`);
    expect(found.body.data.map((a: { name: string }) => a.name)).toEqual([name]);
    expect((await call(api, 'GET', `/org/${org}/agents?size=1000`)).status).toBe(400);
  });

  it('lists every agent and its counters on control routes without a key', async () => {
    const api = await startMock({ agents: 7 });
    const origin = new URL(api.url).origin;
    const list = (await (await fetch(`${origin}/__mock/agents`)).json()) as unknown[];
    expect(list).toHaveLength(7);
    expect(list[0]).toEqual({ org_id: api.orgIds[0], agent_id: expect.any(String) });
    await call(api, 'GET', agentPath(api).path);
    const stats = (await (await fetch(`${origin}/__mock/stats`)).json()) as Record<string, any>;
    expect(stats.byMethodStatus).toEqual({ 'GET 200': 1 });
  });
});

describe('mock API: auth', () => {
  it('accepts the key as X-API-Key or Bearer, and 401s a wrong or missing key', async () => {
    const api = await startMock({ apiKey: 'k' });
    const { path } = agentPath(api);
    expect((await call(api, 'GET', path)).status).toBe(200);
    expect((await call(api, 'GET', path, { bearer: true })).status).toBe(200);
    expect((await call(api, 'GET', path, { key: 'wrong' })).status).toBe(401);
    expect((await call(api, 'GET', path, { key: null })).status).toBe(401);
    expect((await call(api, 'PATCH', path, { key: 'wrong', body: { name: 'x' } })).status).toBe(401);
    expect(api.stats().patchesApplied).toBe(0);
  });
});

describe('mock API: PATCH semantics', () => {
  it('replaces a nested object whole (the pessimistic reading)', async () => {
    const api = await startMock();
    const { org, id, path } = agentPath(api);
    const res = await call(api, 'PATCH', path, { body: { vad_config: { sample_rate: 16000 } } });
    expect(res.status).toBe(200);
    expect(res.body.vad_config).toEqual({ sample_rate: 16000 });
    expect(api.agent(org, id)!.vad_config).toEqual({ sample_rate: 16000 });
  });

  it('changes only the fields sent and bumps updated_at on a change, not on a no-op', async () => {
    const api = await startMock();
    const { org, id, path } = agentPath(api);
    const before = api.agent(org, id)!;
    const changed = await call(api, 'PATCH', path, { body: { name: 'New name' } });
    expect(changed.body).toEqual({ ...before, name: 'New name', updated_at: expect.any(String) });
    expect(changed.body.updated_at).not.toBe(before.updated_at);
    const again = await call(api, 'PATCH', path, { body: { name: 'New name' } });
    expect(again.body.updated_at).toBe(changed.body.updated_at);
    expect(api.stats()).toMatchObject({ patchesApplied: 2, changes: 1 });
  });

  // The mock's words are its own (src/mock/validate-body.ts, written from the vendor's page), not the
  // product's validation: the product is tested against an independent reading of the API.
  const rejected: Array<[string, unknown, string]> = [
    ['a free-form object missing required keys', { llm_config: { temperature: 0.2 } }, 'llm_config.model: field required'],
    ['an unknown field', { nmae: 'x' }, 'nmae: extra fields not permitted'],
    ['a read-only field', { tools: [] }, 'tools: read-only field'],
    ['a bad enum', { type: 'robot' }, 'type: must be one of voice, chat, video'],
    ['a wrong type', { default_functions: 'end_call' }, 'default_functions: must be an array of strings'],
    ['an unknown key in a documented object', { extra_config: { interuption_sensitivity: 0.5 } }, 'extra_config.interuption_sensitivity: extra fields not permitted'],
    ['a value out of range', { extra_config: { interruption_sensitivity: 1.5 } }, 'extra_config.interruption_sensitivity: must be at most 1'],
    ['a non-integer where an integer is required', { vad_config: { sample_rate: 16000.5 } }, 'vad_config.sample_rate: must be an integer'],
    ['a sample rate outside the OpenAPI range', { vad_config: { sample_rate: 96000 } }, 'vad_config.sample_rate: must be at most 48000'],
    ['a bad required enum', { transcriber_config: { provider: 'whisper' } }, 'transcriber_config.provider: must be one of deepgram, elevenlabs, speechmatics'],
    ['a prototype key', JSON.parse('{"__proto__": {"polluted": true}}'), '__proto__: extra fields not permitted'],
    ['a body that is not an object', [1, 2], 'body: must be a JSON object'],
    ['invalid JSON', '{"name": ', 'Body is not valid JSON'],
  ];
  for (const [what, body, message] of rejected) {
    it(`400s ${what}, naming the field`, async () => {
      const api = await startMock();
      const { org, id, path } = agentPath(api);
      const before = api.agent(org, id);
      const res = await call(api, 'PATCH', path, { body });
      expect(res.status).toBe(400);
      expect(res.body.detail).toContain(message);
      expect(api.agent(org, id)).toEqual(before);
    });
  }

  it('accepts a complete free-form object and allowed_sip_trunks', async () => {
    const api = await startMock();
    const { path } = agentPath(api);
    const body = { llm_config: { model: 'gpt-4.1', provider: 'openai', temperature: 0.2 }, allowed_sip_trunks: ['t1'] };
    expect(await call(api, 'PATCH', path, { body })).toMatchObject({ status: 200, body });
  });
});

describe('mock API: rate limit', () => {
  it('answers 429 with Retry-After once the bucket is empty, and refills', async () => {
    // 2/s: the three requests need only land within half a second of each other (not 50 ms) on a busy machine.
    const api = await startMock({ rateLimit: 2, burst: 2 });
    const { path } = agentPath(api);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(await call(api, 'GET', path));
    expect(statuses.map((s) => s.status)).toEqual([200, 200, 429]);
    expect(statuses[2]!.headers.get('retry-after')).toBe('1');
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await call(api, 'GET', path)).status).toBe(200);
  });

  it('can give Retry-After as an HTTP date', async () => {
    const api = await startMock({ rateLimit: 1, burst: 1, retryAfterFormat: 'date' });
    const { path } = agentPath(api);
    await call(api, 'GET', path);
    const asked = Date.now();
    const res = await call(api, 'GET', path);
    expect(res.status).toBe(429);
    // A date in the future (at least a second after the request, to the header's whole seconds).
    const at = Date.parse(res.headers.get('retry-after')!);
    expect(at).toBeGreaterThan(asked);
    expect(at).toBeLessThanOrEqual(Date.now() + 2000);
  });
});

describe('mock API: faults', () => {
  it('failRate answers 500/502/503 and applies nothing', async () => {
    const api = await startMock({ failRate: 1 });
    const { path } = agentPath(api);
    for (let i = 0; i < 10; i++) expect([500, 502, 503]).toContain((await call(api, 'PATCH', path, { body: { name: 'x' } })).status);
    expect(api.stats().patchesApplied).toBe(0);
  });

  it('dropBeforeRate drops the connection and applies nothing', async () => {
    const api = await startMock({ dropBeforeRate: 1 });
    const { org, id, path } = agentPath(api);
    await expect(call(api, 'PATCH', path, { body: { name: 'x' } })).rejects.toThrow();
    expect(api.agent(org, id)!.name).not.toBe('x');
    expect(api.stats()).toMatchObject({ patchesApplied: 0, byStatus: { dropped: 1 } });
  });

  it('dropAfterRate applies the PATCH, then drops the connection', async () => {
    const api = await startMock({ dropAfterRate: 1 });
    const { org, id, path } = agentPath(api);
    await expect(call(api, 'PATCH', path, { body: { name: 'x' } })).rejects.toThrow();
    expect(api.agent(org, id)!.name).toBe('x');
    expect(api.stats({ perAgent: true })).toMatchObject({ patchesApplied: 1, appliedPerAgent: { [`${org}/${id}`]: 1 } });
  });

  it('slowRate delays replies by slowMs, latencyMs delays every reply', async () => {
    const api = await startMock({ slowRate: 1, slowMs: 200, latencyMs: 50 });
    const started = performance.now();
    await call(api, 'GET', agentPath(api).path);
    expect(performance.now() - started).toBeGreaterThanOrEqual(240);
  });

  it('agentStatus makes a chosen agent always answer a status', async () => {
    const api = await startMock();
    const { id, path } = agentPath(api);
    api.configure({ agentStatus: { [id]: 422 } });
    expect((await call(api, 'PATCH', path, { body: { name: 'x' } })).status).toBe(422);
    expect((await call(api, 'GET', path)).status).toBe(422);
    const other = api.agentIds()[1]!;
    expect((await call(api, 'GET', `/org/${other.org_id}/agents/${other.agent_id}`)).status).toBe(200);
  });

  it('faults can be changed at run time over HTTP, and invalid ones are refused', async () => {
    const api = await startMock();
    const origin = new URL(api.url).origin;
    const ok = await fetch(`${origin}/__mock/faults`, { method: 'POST', body: JSON.stringify({ failRate: 1 }) });
    expect(ok.status).toBe(200);
    expect((await call(api, 'GET', agentPath(api).path)).status).toBeGreaterThanOrEqual(500);
    const bad = await fetch(`${origin}/__mock/faults`, { method: 'POST', body: JSON.stringify({ failRate: 2 }) });
    expect(bad.status).toBe(400);
  });

  it('records each request with its time and status when asked', async () => {
    const api = await startMock({ recordRequests: true, agentStatus: {} });
    const { org, id, path } = agentPath(api);
    const before = Date.now();
    await call(api, 'GET', path);
    await call(api, 'PATCH', path, { body: { name: 'y' } });
    expect(api.requests()).toEqual([
      { t: expect.any(Number), method: 'GET', orgId: org, agentId: id, status: 200 },
      { t: expect.any(Number), method: 'PATCH', orgId: org, agentId: id, status: 200 },
    ]);
    expect(api.requests()[0]!.t).toBeGreaterThanOrEqual(before);
    api.resetStats();
    expect(api.requests()).toEqual([]);
    expect(api.stats().total).toBe(0);
  });
});
