/**
 * The API key must never leave the client inside an error: not in its message, its stack, its cause,
 * JSON.stringify or util.inspect of it — for every kind of failure the client can produce.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import util from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { NovaClient } from '../src/api/client.js';
import { NovaApiError, type ApiErrorKind } from '../src/api/errors.js';
import { clientFor, firstAgent, rejection, startMock } from './helpers/mock.js';

const KEY = 'sk-live-REDACTME-0123456789abcdef';

/** A server that echoes whatever key it was sent, the worst case for a leak. */
const echo = http.createServer((req, res) => {
  const sent = String(req.headers['x-api-key'] ?? req.headers.authorization ?? '');
  if (req.url?.includes('text')) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`upstream rejected credentials ${sent}`);
  } else {
    res.writeHead(403, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ detail: `key ${sent} has no access`, message: sent }));
  }
});
await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
const echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
afterAll(() => new Promise<void>((resolve) => echo.close(() => resolve())));

function expectNoKey(error: unknown) {
  expect(error).toBeInstanceOf(NovaApiError);
  const err = error as NovaApiError;
  const views = [
    JSON.stringify(err),
    util.inspect(err, { depth: null, showHidden: true }),
    String(err.stack),
    String(err),
    err.message,
    util.inspect(err.cause, { depth: null, showHidden: true }),
    JSON.stringify(err.cause ?? null),
  ];
  for (const view of views) expect(view).not.toContain(KEY);
  // And not a recognisable part of it either.
  for (const view of views) expect(view).not.toContain('REDACTME');
}

describe('the API key never appears in an error', () => {
  const cases: Array<[ApiErrorKind | string, (c: NovaClient, org: string, id: string) => Promise<unknown>, Record<string, unknown>]> = [
    ['not_found', (c, org) => c.getAgent(org, 'missing'), {}],
    ['client 400', (c, org, id) => c.patchAgent(org, id, { llm_config: {} }), {}],
    ['client 422', (c, org, id) => c.patchAgent(org, id, { name: 'x' }), { agentStatus: 'first' }],
    ['server', (c, org, id) => c.getAgent(org, id), { failRate: 1 }],
    ['rate_limited', async (c, org, id) => { await c.getAgent(org, id); return c.getAgent(org, id); }, { rateLimit: 1, burst: 1 }],
    ['timeout', (c, org, id) => c.getAgent(org, id), { slowRate: 1, slowMs: 500 }],
    ['network (dropped before)', (c, org, id) => c.patchAgent(org, id, { name: 'x' }), { dropBeforeRate: 1 }],
    ['network (dropped after)', (c, org, id) => c.patchAgent(org, id, { name: 'x' }), { dropAfterRate: 1 }],
    ['client (dot segment)', (c) => c.getAgent('..', 'x'), {}],
  ];
  for (const [name, call, faults] of cases) {
    for (const auth of ['x-api-key', 'bearer'] as const) {
      it(`${name} (${auth})`, async () => {
        const api = await startMock({ apiKey: KEY });
        const { org, id } = firstAgent(api);
        const { agentStatus, ...rest } = faults;
        api.configure({ ...rest, ...(agentStatus ? { agentStatus: { [id]: 422 } } : {}) });
        // Only the timeout case gets a short timeout: on a loaded CI machine a first request on a cold
        // connection took over 100 ms and the not_found case came back as a timeout.
        const client = clientFor(api, { auth, timeoutMs: name === 'timeout' ? 100 : 5000 });
        const error = await rejection<NovaApiError>(call(client, org, id));
        // The case is the failure its name says (a matrix of the wrong kinds would test nothing).
        expect(error.kind).toBe(name.split(' ')[0]);
        expectNoKey(error);
      });
    }
  }

  it('auth: the server refuses a key (it is the wrong one)', async () => {
    const api = await startMock({ apiKey: 'the-right-key' });
    const { org, id } = firstAgent(api);
    const error = await rejection<NovaApiError>(clientFor(api, { apiKey: KEY }).getAgent(org, id));
    expect(error.kind).toBe('auth');
    expectNoKey(error);
  });

  it('network: connection refused', async () => {
    const api = await startMock({ apiKey: KEY });
    await api.close();
    expectNoKey(await rejection(clientFor(api).getAgent('o', 'a')));
  });

  it('aborted by our own signal', async () => {
    const api = await startMock({ apiKey: KEY, latencyMs: 1000 });
    const { org, id } = firstAgent(api);
    const controller = new AbortController();
    const pending = clientFor(api).getAgent(org, id, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    expectNoKey(await rejection(pending));
  });

  for (const auth of ['x-api-key', 'bearer'] as const) {
    it(`a server that echoes the key in a JSON message (${auth})`, async () => {
      const api = await startMock({ apiKey: KEY });
      const error = await rejection<NovaApiError>(clientFor(api, { baseUrl: echoUrl, auth }).getAgent('o', 'a'));
      expect(error.kind).toBe('auth');
      expect(error.serverMessage).toContain('[redacted]');
      expectNoKey(error);
    });

    it(`a server that echoes the key in a text body (${auth})`, async () => {
      const api = await startMock({ apiKey: KEY });
      const error = await rejection<NovaApiError>(clientFor(api, { baseUrl: echoUrl, auth }).getAgent('o', 'text'));
      expect(error.kind).toBe('server');
      expectNoKey(error);
    });
  }

  it('a key with a line break is refused before any request is built', () => {
    expect(() => clientFor({ url: echoUrl, apiKey: 'x' } as never, { apiKey: `${KEY}\r\nX-Evil: 1` })).toThrow(
      'Expected `apiKey` to be a non-empty string without line breaks',
    );
  });
});
