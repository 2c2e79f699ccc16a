/**
 * Behind a corporate proxy (issue 30, SPEC §17): with HTTP_PROXY set, every API request of a batch goes
 * through it — the API's host name here resolves nowhere but in the proxy, so a request that bypassed
 * it would fail — and NO_PROXY exempts a host. A loopback CONNECT proxy stands in for the real one.
 */
import net from 'node:net';
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest } = engineFixtures('proxy');

/** A CONNECT proxy that knows one name no resolver does, and counts what it tunnels. */
async function connectProxy(name: string, target: { host: string; port: number }) {
  const seen = { tunnels: 0, refused: 0, bytes: 0, targets: new Set<string>() };
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const [host, port] = (req.url ?? '').split(':');
    seen.targets.add(req.url ?? '');
    if (host !== name || Number(port) !== target.port) {
      seen.refused++;
      client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      return;
    }
    seen.tunnels++;
    const upstream = net.connect(target.port, target.host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      client.on('data', (d: Buffer) => (seen.bytes += d.length));
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, seen, close: () => (server.closeAllConnections(), server.close()) };
}

describe('HTTP_PROXY', () => {
  it('a batch sends every request through the proxy (the API host resolves only there); NO_PROXY exempts a host', async () => {
    const api = await startMock({ agents: 12, orgs: 2, recordRequests: true });
    const port = Number(new URL(api.url).port);
    const proxy = await connectProxy('nova-api.invalid', { host: '127.0.0.1', port });
    const prefix = testPrefix('proxy');
    const hidden = api.url.replace('127.0.0.1', 'nova-api.invalid');
    const env = { NOVA_API_URL: hidden, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix, HTTP_PROXY: proxy.url, NO_PROXY: '' };
    try {
      const file = manifest('proxied.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Proxied' } })));
      const run = await runCli(['run', file, '--batch', 'proxied', '--rate', '200', '--concurrency', '4'], env);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain(`API requests go through the proxy ${proxy.url}`);
      // Every agent's GET and PATCH reached the API, and only by the proxy's tunnels.
      const sent = api.requests().filter((r) => r.agentId !== undefined);
      expect(sent.filter((r) => r.method === 'GET').length).toBeGreaterThanOrEqual(12); // and a preflight read per org
      expect(sent.filter((r) => r.method === 'PATCH')).toHaveLength(12);
      expect(proxy.seen.tunnels).toBeGreaterThan(0);
      expect(proxy.seen.tunnels).toBeLessThanOrEqual(4 + 2); // kept alive: a tunnel per socket (4, and the preflight's client's 2), not per request (26)
      expect(proxy.seen.refused).toBe(0);
      expect(proxy.seen.bytes).toBeGreaterThan(24 * 100);

      // NO_PROXY names the API's host: the requests go straight to it, no tunnel is opened.
      const before = proxy.seen.tunnels;
      const direct = await runCli(['drift', 'proxied', '--rate', '200'], { ...env, NOVA_API_URL: api.url, NO_PROXY: '127.0.0.1' });
      expect(direct.code, direct.stderr).toBe(0);
      expect(proxy.seen.tunnels).toBe(before);
      expect(direct.stderr).not.toContain('through the proxy');
      // A proxy that is not a URL is exit 2, named.
      const bad = await runCli(['drift', 'proxied'], { ...env, HTTP_PROXY: 'http://[bad' });
      expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('HTTPS_PROXY/HTTP_PROXY')]);
      // A proxy of a scheme the agent cannot speak (a SOCKS one): exit 2, named — never a direct request.
      const socks = await runCli(['drift', 'proxied'], { ...env, HTTP_PROXY: 'socks5://127.0.0.1:1080' });
      expect([socks.code, socks.stderr]).toEqual([2, expect.stringContaining('the proxy socks5://127.0.0.1:1080 is neither http:// nor https://')]);
    } finally {
      proxy.close();
    }
  }, 60_000);
});
