import { getEventListeners, setMaxListeners } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_REPLY_BYTES, NovaClient } from '../src/api/client.js';
import { NovaApiError } from '../src/api/errors.js';
import { clientFor, firstAgent, rejection, startMock } from './helpers/mock.js';

describe('NovaClient against the mock API', () => {
  it('gets an agent exactly as the server holds it', async () => {
    const api = await startMock();
    const { org, id } = firstAgent(api);
    const agent = await clientFor(api).getAgent(org, id);
    expect(agent).toEqual(api.agent(org, id));
    expect(String(agent.prompt_template).length).toBeGreaterThan(2000);
  });

  it('patches with X-API-Key by default and returns the whole agent', async () => {
    const api = await startMock();
    const { org, id } = firstAgent(api);
    const agent = await clientFor(api).patchAgent(org, id, { name: 'Renamed' });
    expect(agent.name).toBe('Renamed');
    expect(agent.prompt_template).toBe(api.agent(org, id)!.prompt_template);
    expect(api.stats().byMethodStatus['PATCH 200']).toBe(1);
  });

  it('authenticates with Authorization: Bearer when asked', async () => {
    const api = await startMock();
    const { org, id } = firstAgent(api);
    await expect(clientFor(api, { auth: 'bearer' }).getAgent(org, id)).resolves.toMatchObject({ id });
  });

  it('lists every agent of an org across pages', async () => {
    const api = await startMock({ agents: 25, orgs: 1 });
    const ids: string[] = [];
    for await (const summary of clientFor(api).listAgents(api.orgIds[0]!, { size: 10 })) ids.push(summary.id);
    expect(ids).toEqual(api.agentIds().map((a) => a.agent_id));
    expect(api.stats().byMethod.GET).toBe(3);
  });

  it('percent-encodes ids so one cannot reach another path', async () => {
    const api = await startMock();
    const { org } = firstAgent(api);
    const error = await rejection<NovaApiError>(clientFor(api).getAgent(org, 'x/../../other'));
    expect(error.kind).toBe('not_found');
    expect(error.path).toBe(`/org/${org}/agents/x%2F..%2F..%2Fother`);
  });

  it('refuses dot-segment ids, which a URL would silently resolve away', async () => {
    const api = await startMock();
    const error = await rejection<NovaApiError>(clientFor(api).getAgent('..', 'a'));
    expect(error).toBeInstanceOf(NovaApiError);
    expect(error.kind).toBe('client');
    expect(error.retryable).toBe(false);
    expect(api.stats().total).toBe(0);
  });
});

describe('NovaClient errors: one typed error per failure kind', () => {
  it('auth: a wrong key is a 401, not retryable', async () => {
    const api = await startMock();
    const { org, id } = firstAgent(api);
    const error = await rejection<NovaApiError>(clientFor(api, { apiKey: 'wrong' }).getAgent(org, id));
    expect(error).toMatchObject({ kind: 'auth', status: 401, retryable: false, serverMessage: 'Invalid or missing API key' });
  });

  it('not_found: an unknown agent is a 404, not retryable', async () => {
    const api = await startMock();
    const error = await rejection<NovaApiError>(clientFor(api).getAgent(firstAgent(api).org, 'no-such-agent'));
    expect(error).toMatchObject({ kind: 'not_found', status: 404, retryable: false, serverMessage: 'Agent not found' });
  });

  it('client: a rejected body is a 400 carrying the server message, not retryable', async () => {
    const api = await startMock();
    const { org, id } = firstAgent(api);
    const error = await rejection<NovaApiError>(clientFor(api).patchAgent(org, id, { llm_config: { temperature: 0.2 } }));
    expect(error).toMatchObject({ kind: 'client', status: 400, retryable: false });
    expect(error.serverMessage).toContain('llm_config.model: field required');
    expect(error.message).toBe(`PATCH /org/${org}/agents/${id}: 400 ${error.serverMessage}`);
  });

  it('client: a 422 chosen for one agent is not retryable', async () => {
    const api = await startMock();
    const { org, id } = firstAgent(api);
    api.configure({ agentStatus: { [id]: 422 } });
    const error = await rejection<NovaApiError>(clientFor(api).patchAgent(org, id, { name: 'x' }));
    expect(error).toMatchObject({ kind: 'client', status: 422, retryable: false });
  });

  it('server: 5xx is retryable, and the client does not retry on its own', async () => {
    const api = await startMock({ failRate: 1 });
    const { org, id } = firstAgent(api);
    const error = await rejection<NovaApiError>(clientFor(api).getAgent(org, id));
    expect(error.kind).toBe('server');
    expect([500, 502, 503]).toContain(error.status);
    expect(error.retryable).toBe(true);
    expect(api.stats().total).toBe(1);
  });

  it('rate_limited: 429 with Retry-After in seconds', async () => {
    const api = await startMock({ rateLimit: 1, burst: 1 });
    const { org, id } = firstAgent(api);
    const client = clientFor(api);
    await client.getAgent(org, id);
    const error = await rejection<NovaApiError>(client.getAgent(org, id));
    expect(error).toMatchObject({ kind: 'rate_limited', status: 429, retryable: true, retryAfterMs: 1000 });
  });

  it('rate_limited: 429 with Retry-After as an HTTP date', async () => {
    const api = await startMock({ rateLimit: 0.2, burst: 1, retryAfterFormat: 'date' });
    const { org, id } = firstAgent(api);
    const client = clientFor(api);
    await client.getAgent(org, id);
    const error = await rejection<NovaApiError>(client.getAgent(org, id));
    expect(error.kind).toBe('rate_limited');
    // 5 s asked for, at one-second resolution of an HTTP date.
    expect(error.retryAfterMs).toBeGreaterThan(3000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(5000);
  });

  it('timeout: a reply slower than the timeout', async () => {
    const api = await startMock({ slowRate: 1, slowMs: 1000 });
    const { org, id } = firstAgent(api);
    const error = await rejection<NovaApiError>(clientFor(api, { timeoutMs: 150 }).getAgent(org, id));
    expect(error).toMatchObject({ kind: 'timeout', retryable: true, code: 'ETIMEDOUT' });
  });

  it('network: connection refused', async () => {
    const api = await startMock();
    const url = api.url;
    await api.close();
    const error = await rejection<NovaApiError>(clientFor(api, { baseUrl: url }).getAgent('o', 'a'));
    expect(error).toMatchObject({ kind: 'network', retryable: true, code: 'ECONNREFUSED' });
  });

  it('network: a connection dropped after the PATCH was applied', async () => {
    const api = await startMock({ dropAfterRate: 1 });
    const { org, id } = firstAgent(api);
    const error = await rejection<NovaApiError>(clientFor(api).patchAgent(org, id, { name: 'Applied anyway' }));
    expect(error).toMatchObject({ kind: 'network', retryable: true });
    expect(api.agent(org, id)!.name).toBe('Applied anyway');
  });

  it('aborted: our own signal cancels the request', async () => {
    const api = await startMock({ latencyMs: 2000 });
    const { org, id } = firstAgent(api);
    const controller = new AbortController();
    const pending = clientFor(api).getAgent(org, id, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = await rejection<NovaApiError>(pending);
    expect(error).toMatchObject({ kind: 'aborted', retryable: true });
  });

  it('aborted: a signal already aborted sends nothing; requests that ended leave no listener on it', async () => {
    const api = await startMock();
    const { org, id } = firstAgent(api);
    const client = clientFor(api);
    const controller = new AbortController();
    // As the worker pool sets its own: 20 requests in flight listen to it at once (no leak warning).
    setMaxListeners(0, controller.signal);
    // The worker's one shutdown signal is given to every request: each must take its listener back.
    await Promise.all(Array.from({ length: 20 }, () => client.getAgent(org, id, { signal: controller.signal })));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    const sent = api.stats().total;
    controller.abort();
    const error = await rejection<NovaApiError>(client.getAgent(org, id, { signal: controller.signal }));
    expect(error).toMatchObject({ kind: 'aborted', retryable: true });
    expect(api.stats().total).toBe(sent);
  });

  it('timeout: the whole exchange, a body that trickles in included', async () => {
    await withServer(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"id":"a","name":"x"'); // headers at once, the rest never
      },
      async (baseUrl) => {
        const started = performance.now();
        const error = await rejection<NovaApiError>(new NovaClient({ baseUrl, apiKey: 'k', timeoutMs: 200 }).getAgent('o', 'a'));
        expect(error).toMatchObject({ kind: 'timeout', code: 'ETIMEDOUT' });
        expect(performance.now() - started).toBeLessThan(2000);
      },
    );
  });

  /** A loopback server answering every request with `respond`; closed after `body`. */
  async function withServer(respond: http.RequestListener, body: (baseUrl: string) => Promise<void>): Promise<void> {
    const server = http.createServer(respond);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await body(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }

  it('network: a reply cut short mid-body (the connection lost) is a transport failure, not a short body', async () => {
    const api = await startMock();
    await withServer(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('{"id": "a", "name": "half');
        setTimeout(() => res.socket?.destroy(), 20);
      },
      async (baseUrl) => {
        const error = await rejection<NovaApiError>(clientFor(api, { baseUrl }).getAgent('o', 'a'));
        expect(error).toMatchObject({ kind: 'network', retryable: true });
      },
    );
  });

  it('network: a reply longer than the bound is not read further (an endless body cannot fill the memory)', async () => {
    const api = await startMock();
    let written = 0;
    await withServer(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 'a');
        // Endless unless the client stops reading: each write as soon as the socket takes it.
        const more = () => {
          while (!res.destroyed && written < 64 * 2 ** 20 && res.write(chunk)) written += chunk.length;
          if (!res.destroyed) res.once('drain', more);
        };
        more();
      },
      async (baseUrl) => {
        const error = await rejection<NovaApiError>(clientFor(api, { baseUrl, maxReplyBytes: 2 ** 20 }).getAgent('o', 'a'));
        expect(error).toMatchObject({ kind: 'network', retryable: true, code: 'ERR_REPLY_TOO_LARGE' });
      },
    );
    expect(written).toBeLessThan(16 * 2 ** 20);
  });

  it('the default bound is an agent’s size: a 3 MiB agent is read, a 5 MiB reply is not', async () => {
    // Defect 11: replies were read up to 256 MiB each — 16 in flight could hold 4 GB.
    expect(DEFAULT_MAX_REPLY_BYTES).toBe(4 * 2 ** 20);
    const api = await startMock();
    for (const [size, ok] of [[3 * 2 ** 20, true], [5 * 2 ** 20, false]] as const) {
      await withServer(
        (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ id: 'a', organization_id: 'o', prompt_template: 'p'.repeat(size) }));
        },
        async (baseUrl) => {
          const client = clientFor(api, { baseUrl });
          if (ok) expect((await client.getAgent('o', 'a')).prompt_template).toHaveLength(size);
          else expect(await rejection<NovaApiError>(client.getAgent('o', 'a'))).toMatchObject({ kind: 'network', code: 'ERR_REPLY_TOO_LARGE' });
        },
      );
    }
  });

  it('follows no redirect: a 307 is an error naming its status, and its target is never asked', async () => {
    const api = await startMock();
    let asked = 0;
    await withServer(
      (req, res) => {
        asked++;
        res.writeHead(307, { location: `${api.url}${req.url ?? ''}` }).end();
      },
      async (baseUrl) => {
        const error = await rejection<NovaApiError>(clientFor(api, { baseUrl }).getAgent('o', 'a'));
        expect(error).toMatchObject({ status: 307 });
        expect(asked).toBe(1);
        expect(api.stats().total).toBe(0);
      },
    );
  });

  it('sends the base URL\'s path in front of every request, on one kept-alive socket', async () => {
    const api = await startMock();
    const seen: Array<{ url: string | undefined; port: number | undefined }> = [];
    await withServer(
      (req, res) => {
        seen.push({ url: req.url, port: req.socket.remotePort });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: [], meta: { total_pages: 1 } }));
      },
      async (baseUrl) => {
        const client = clientFor(api, { baseUrl: `${baseUrl}/api/v2/`, maxSockets: 1 });
        await client.listAgentsPage('org 1', 1);
        await client.listAgentsPage('org-2', 2, { search: 'a&b' });
        client.close();
      },
    );
    expect(seen.map((s) => s.url)).toEqual(['/api/v2/org/org%201/agents?page=1&size=100', '/api/v2/org/org-2/agents?page=2&size=100&search=a%26b']);
    expect(seen[0]!.port).toBe(seen[1]!.port);
  });

  it('server: a 2xx that is not an agent', async () => {
    const server = http.createServer((_req, res) => res.end('<html>maintenance</html>'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const api = await startMock();
      const error = await rejection<NovaApiError>(clientFor(api, { baseUrl: `http://127.0.0.1:${port}` }).getAgent('o', 'a'));
      expect(error).toMatchObject({ kind: 'server', status: 200, serverMessage: 'response is not JSON', retryable: true });
    } finally {
      server.close();
    }
  });
});
