/**
 * The mock Nova API (SPEC §8): a faithful local stand-in, worst habits included — top-level
 * replacement of nested objects, strict body validation, a token-bucket rate limit answering 429 with
 * Retry-After, and injectable faults (5xx, connections dropped before or *after* a PATCH is applied,
 * slow replies, agents that always answer a chosen status). Counters and an optional request log let
 * tests and benchmarks prove what reached the "server".
 *
 * Bodies are checked by validate-body.ts, written from the vendor's page apart from src/patch/.
 *
 * Routes (under `/api`, like the vendor's base URL):
 *   GET   /api/org/{org_id}/agents/{agent_id}
 *   PATCH /api/org/{org_id}/agents/{agent_id}
 *   GET   /api/org/{org_id}/agents?page=&size=&search=&type=
 * Control routes (no key, no faults, no rate limit), at the root or under /api:
 *   GET /__mock/agents   every {org_id, agent_id}
 *   GET /__mock/stats    counters (`?agents=1` adds PATCHes applied per agent)
 *   POST /__mock/reset   zero the counters and the request log
 *   POST /__mock/faults  change faults at run time (JSON body, same keys as MockFaults)
 */
import { listenOn } from '../listen.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { Agent } from '../api/types.js';
import { bodyProblems } from './validate-body.js';
import { agentKey, generateFleet, type Fleet } from './fleet.js';
import { Random } from './random.js';
import { TokenBucket } from './token-bucket.js';
import { BodyTooLarge, emptyStats, pageQuery, readBody, route, type Route } from './routes.js';
import { CallSimulator, callsReply } from './calls.js';
import { MockFaultsSchema, type MockApi, type MockApiOptions, type MockFaults, type RequestRecord } from './types.js';

export { MockFaultsSchema, type InterceptedRequest, type MockApi, type MockApiOptions, type MockFaults, type MockReply, type MockStats, type RequestRecord } from './types.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const increment = (record: Record<string, number>, key: string) => {
  record[key] = (record[key] ?? 0) + 1;
};

export async function startMockApi(options: MockApiOptions = {}): Promise<MockApi> {
  const fleet: Fleet = generateFleet(options);
  const apiKey = options.apiKey ?? 'mock-key';
  const dice = new Random((options.seed ?? 1) ^ 0x5eed);
  let faults: MockFaults = {};
  let bucket: TokenBucket | undefined;
  const configure = (changes: MockFaults) => {
    faults = { ...faults, ...MockFaultsSchema.parse(changes) };
    const rate = faults.rateLimit ?? 0;
    bucket = rate > 0 ? new TokenBucket(rate, faults.burst ?? Math.max(1, rate)) : undefined;
  };
  configure(Object.fromEntries(Object.entries(options).filter(([k]) => k in MockFaultsSchema.shape)));

  const calls = new CallSimulator({ callsPerMin: options.callsPerMin ?? 0, badMarker: options.badMarker, goodRate: options.goodRate, badRate: options.badRate, callMs: options.callMs, seed: options.seed ?? 1 });
  for (const [key, agent] of fleet.agents) calls.noteConfig(key, agent, calls.startedAt);

  let stats = emptyStats();
  let appliedPerAgent = new Map<string, number>();
  let log: RequestRecord[] = [];

  function finish(req: http.IncomingMessage, r: Route, t: number, status: number | 'dropped') {
    stats.total++;
    increment(stats.byMethod, req.method ?? '?');
    increment(stats.byStatus, String(status));
    increment(stats.byMethodStatus, `${req.method} ${status}`);
    if (options.recordRequests) {
      log.push({
        t,
        method: req.method ?? '?',
        orgId: r.kind === 'agent' || r.kind === 'list' ? r.orgId : undefined,
        agentId: r.kind === 'agent' ? r.agentId : undefined,
        status,
      });
    }
  }

  function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  const keys: Record<string, string> = Object.fromEntries(fleet.orgIds.map((org, i) => [org, options.orgKeys ? `${apiKey}-${i + 1}` : apiKey]));
  const knownKeys = new Set(Object.values(keys));
  const scheme = options.authScheme ?? 'both';

  /** The key as this mock reads it (only from the header(s) it accepts), or undefined. */
  function presented(req: http.IncomingMessage): string | undefined {
    const header = req.headers['x-api-key'];
    if (scheme !== 'bearer' && typeof header === 'string') return header;
    const auth = req.headers.authorization;
    if (scheme !== 'x-api-key' && typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7);
    return undefined;
  }

  /** 0 if the key may make this request; else the status (401 unknown key, 403 another org's or read-only). */
  function refusal(req: http.IncomingMessage, orgId: string): 0 | 401 | 403 {
    const key = presented(req);
    if (key === undefined || !knownKeys.has(key)) return 401;
    const own = keys[orgId];
    if (own !== undefined && key !== own) return 403;
    if (req.method !== 'GET' && options.readOnlyOrgs?.includes(orgId)) return 403;
    return 0;
  }

  function control(name: string, req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string) {
    if (req.method === 'GET' && name === 'agents') return send(res, 200, api.agentIds());
    if (req.method === 'GET' && name === 'keys') return send(res, 200, keys);
    if (req.method === 'GET' && name === 'stats') return send(res, 200, api.stats({ perAgent: url.searchParams.get('agents') === '1' }));
    if (req.method === 'POST' && name === 'reset') {
      api.resetStats();
      return send(res, 200, { ok: true });
    }
    if (req.method === 'POST' && name === 'faults') {
      try {
        configure(JSON.parse(body || '{}'));
      } catch (error) {
        return send(res, 400, { detail: error instanceof Error ? error.message : String(error) });
      }
      return send(res, 200, faults);
    }
    return send(res, 404, { detail: 'Not found' });
  }

  function handleList(orgId: string, url: URL, res: http.ServerResponse): number {
    const agents = fleet.byOrg.get(orgId);
    if (!agents) return reply(res, 404, { detail: 'Organization not found' });
    const paging = pageQuery(url.searchParams);
    if (typeof paging === 'string') return reply(res, 400, { detail: paging });
    const { page, size } = paging;
    const search = url.searchParams.get('search')?.toLowerCase();
    const type = url.searchParams.get('type');
    const matching = agents.filter(
      (a) => (!search || String(a.name).toLowerCase().includes(search)) && (!type || a.type === type),
    );
    const data = matching.slice((page - 1) * size, page * size).map((a) => ({
      id: a.id,
      name: a.name,
      type: a.type,
      created_at: a.created_at,
      updated_at: a.updated_at,
    }));
    const total = matching.length;
    return reply(res, 200, { data, meta: { page, size, total, total_pages: Math.ceil(total / size) } });
  }

  /** `GET /org/{org_id}/calls` (SPEC §14): calls.ts answers from the simulated calls. */
  function handleCalls(orgId: string, url: URL, res: http.ServerResponse): number {
    const agents = fleet.byOrg.get(orgId);
    if (!agents) return reply(res, 404, { detail: 'Organization not found' });
    const answer = callsReply(calls, agents.map((a) => ({ key: agentKey(orgId, String(a.id)), id: String(a.id), name: String(a.name) })), url.searchParams);
    return reply(res, answer.status, answer.body);
  }

  /** Applies a validated PATCH: each top-level field replaced whole (the pessimistic reading, SPEC §2). */
  function applyPatch(agent: Agent, key: string, body: Record<string, unknown>) {
    let changed = false;
    for (const [field, value] of Object.entries(body)) {
      if (!isDeepStrictEqual(agent[field], value)) changed = true;
      agent[field] = structuredClone(value) as Agent[string];
    }
    if (changed) {
      agent.updated_at = new Date().toISOString();
      stats.changes++;
      calls.noteConfig(key, agent);
    }
    stats.patchesApplied++;
    appliedPerAgent.set(key, (appliedPerAgent.get(key) ?? 0) + 1);
  }

  const reply = (res: http.ServerResponse, status: number, body: unknown, headers?: Record<string, string>) => {
    send(res, status, body, headers);
    return status;
  };

  type ApiRoute = Exclude<Route, { kind: 'control' }>;

  let arrived = 0;
  async function handleApi(req: http.IncomingMessage, res: http.ServerResponse, r: ApiRoute, url: URL, body: string): Promise<number | 'dropped'> {
    if (r.kind === 'none') return reply(res, 404, { detail: 'Not found' });
    if (options.intercept) {
      const n = ++arrived;
      const instead = await options.intercept({ method: req.method ?? '?', orgId: r.orgId, agentId: r.kind === 'agent' ? r.agentId : undefined, resource: r.kind, headers: req.headers, n });
      if (instead) return reply(res, instead.status, instead.body, instead.headers);
    }
    const refused = refusal(req, r.orgId);
    if (refused === 401) return reply(res, 401, { detail: 'Invalid or missing API key' });
    if (refused === 403) return reply(res, 403, { detail: req.method === 'GET' || !options.readOnlyOrgs?.includes(r.orgId) ? 'This API key does not belong to this organization' : 'This API key is read-only' });
    if (bucket) {
      const waitMs = bucket.take();
      if (waitMs > 0) {
        const seconds = Math.max(1, Math.ceil(waitMs / 1000));
        const retryAfter =
          faults.retryAfterFormat === 'date' ? new Date(Date.now() + seconds * 1000).toUTCString() : String(seconds);
        return reply(res, 429, { detail: 'Too many requests' }, { 'retry-after': retryAfter });
      }
    }
    const delay = (faults.latencyMs ?? 0) + (dice.chance(faults.slowRate ?? 0) ? (faults.slowMs ?? 2000) : 0);
    if (delay > 0) await sleep(delay);
    if (dice.chance(faults.dropBeforeRate ?? 0)) {
      req.socket.destroy();
      return 'dropped';
    }
    if (dice.chance(faults.failRate ?? 0)) {
      return reply(res, dice.pick([500, 502, 503]), { detail: 'Injected server fault' });
    }
    if (r.kind === 'list' || r.kind === 'calls') {
      if (req.method !== 'GET') return reply(res, 405, { detail: 'Method not allowed' });
      return r.kind === 'list' ? handleList(r.orgId, url, res) : handleCalls(r.orgId, url, res);
    }
    const forced = faults.agentStatus?.[r.agentId] ?? (req.method === 'PATCH' ? faults.patchStatus?.[r.agentId] : undefined);
    if (forced !== undefined) return reply(res, forced, { detail: `Injected ${forced} for agent ${r.agentId}` });
    const key = agentKey(r.orgId, r.agentId);
    const agent = fleet.agents.get(key);
    if (!agent) return reply(res, 404, { detail: 'Agent not found' });
    if (req.method === 'GET') return reply(res, 200, agent);
    if (req.method !== 'PATCH') return reply(res, 405, { detail: 'Method not allowed' });
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return reply(res, 400, { detail: 'Body is not valid JSON' });
    }
    const problems = bodyProblems(parsed);
    if (problems.length > 0) return reply(res, 400, { detail: problems.join('; ') });
    applyPatch(agent, key, parsed as Record<string, unknown>);
    const late = faults.patchAppliedStatus?.[r.agentId];
    if (late !== undefined) return reply(res, late, { detail: `Injected ${late} for agent ${r.agentId}, after applying the change` });
    if (dice.chance(faults.dropAfterRate ?? 0)) {
      req.socket.destroy(); // applied, but the client never hears so: the idempotency test case
      return 'dropped';
    }
    return reply(res, 200, agent);
  }

  /** API requests being answered now (their latency included), for stats.peakInFlight. */
  let active = 0;
  const server = http.createServer((req, res) => {
    const t = Date.now();
    const url = new URL(req.url ?? '/', 'http://mock');
    const r = route(url.pathname);
    const counted = r.kind !== 'control';
    if (counted) stats.peakInFlight = Math.max(stats.peakInFlight, ++active);
    readBody(req)
      .then(async (body) => {
        if (r.kind === 'control') return control(r.name, req, res, url, body);
        finish(req, r, t, await handleApi(req, res, r, url, body));
      })
      .catch((error: unknown) => {
        if (error instanceof BodyTooLarge) return finish(req, r, t, reply(res, 413, { detail: 'Body too large' }));
        if (res.headersSent || req.socket.destroyed) return;
        process.stderr.write(`mock-api: internal error: ${error instanceof Error ? error.stack : String(error)}\n`);
        send(res, 500, { detail: 'Mock internal error' });
      })
      .finally(() => {
        if (counted) active--;
      });
  });
  // Longer than any client's keep-alive idle time, so the mock never races a reused socket closed.
  server.keepAliveTimeout = 65_000;

  await listenOn(server, options.port ?? 0, options.host ?? '127.0.0.1', 'mock-api');
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  const api: MockApi = {
    url: `http://${hostForUrl}:${address.port}/api`,
    port: address.port,
    apiKey,
    orgIds: fleet.orgIds,
    keys,
    agent: (orgId, agentId) => {
      const agent = fleet.agents.get(agentKey(orgId, agentId));
      return agent ? structuredClone(agent) : undefined;
    },
    agentIds: () => [...fleet.agents.values()].map((a) => ({ org_id: String(a.organization_id), agent_id: a.id })),
    stats: ({ perAgent = false } = {}) => ({
      ...structuredClone(stats),
      ...(perAgent ? { appliedPerAgent: Object.fromEntries(appliedPerAgent) } : {}),
    }),
    requests: () => log,
    configure,
    resetStats: () => {
      stats = emptyStats();
      appliedPerAgent = new Map();
      log = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return api;
}
