/**
 * The dashboard against requests a hostile page or process can make (issue 13), over raw HTTP (so
 * that the Host, Origin and Cookie headers are exactly what an attacker sends).
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { startDashboard } from '../src/dashboard/server.js';
import { BatchStore } from '../src/store/batch-store.js';
import { runCli } from './helpers/cli.js';
import { engineFixtures, FAST } from './helpers/engine.js';
import { testPrefix } from './helpers/redis.js';

const { redis } = engineFixtures('hostile-dashboard');

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function raw(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: { host: `127.0.0.1:${port}`, ...options.headers } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

async function board(name: string, extra: { token?: string; allowActions?: boolean } = {}) {
  const store = new BatchStore(redis, testPrefix(name));
  await store.createBatch({ id: `${name}-1`, kind: 'rollout', manifest: 'm', digest: 'd', createdAt: Date.now(), status: 'running', total: 0, enqueued: true, options: FAST });
  const dashboard = await startDashboard({ store, port: 0, ...extra });
  return { store, dashboard, port: dashboard.port };
}

describe('the dashboard refuses what a hostile page or process sends', () => {
  it('bull-board is read-only without --allow-actions: pausing a queue is refused', async () => {
    const { store, dashboard, port } = await board('ro');
    const origin = `http://127.0.0.1:${port}`;
    const one = await raw(port, `/queues/api/queues/${encodeURIComponent('ro-1/agents')}/pause`, { method: 'PUT', headers: { origin } });
    expect(one.status).toBe(405);
    await raw(port, '/queues/api/queues/pause', { method: 'PUT', headers: { origin } });
    const queue = store.queue('ro-1');
    expect(await queue.isPaused()).toBe(false);
    await queue.close();
    await dashboard.close();
    await expect(startDashboard({ store: new BatchStore(redis, testPrefix('ro2')), port: 0, allowActions: true })).rejects.toThrow('--allow-actions needs a token');
    expect((await runCli(['dashboard', '--allow-actions', '--port', '0'])).code).toBe(2);
  });

  it('a Host header naming another site (DNS rebinding) is refused; its own names are served', async () => {
    const { dashboard, port } = await board('host');
    expect((await raw(port, '/api/batches', { headers: { host: `evil.example:${port}` } })).status).toBe(421);
    expect((await raw(port, '/api/batches', { headers: { host: `localhost:${port}` } })).status).toBe(200);
    expect((await raw(port, '/api/batches')).status).toBe(200);
    await dashboard.close();
  });

  it('the token guards bull-board (/queues, its pages, its API and its assets) as it guards the overview', async () => {
    const { dashboard, port } = await board('queues-token', { token: 'tok-queues-1' });
    for (const path of ['/', '/api/batches', '/queues', '/queues/', '/queues/api/queues', '/queues/api/queues?activeQueue=x', '/queues/static/js/main.js', '/QUEUES/', '/queues/../queues/api/queues']) {
      expect((await raw(port, path)).status, path).toBe(401);
      expect((await raw(port, path, { headers: { authorization: 'Bearer wrong' } })).status, path).toBe(401);
    }
    const listed = await raw(port, '/queues/api/queues', { headers: { authorization: 'Bearer tok-queues-1' } });
    expect(listed.status).toBe(200);
    expect(listed.body).toContain('queues-token-1');
    await dashboard.close();
  });

  it('no framing; a cross-site POST (text/plain, another Origin or none) is refused', async () => {
    const { dashboard, port } = await board('csrf', { token: 'tok-123', allowActions: true });
    const page = await raw(port, '/', { headers: { authorization: 'Bearer tok-123' } });
    expect(page.headers['content-security-policy']).toBe("frame-ancestors 'none'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    for (const origin of ['https://evil.example', undefined]) {
      const posted = await raw(port, '/queues/api/queues/pause', { method: 'PUT', headers: { 'content-type': 'text/plain', authorization: 'Bearer tok-123', ...(origin ? { origin } : {}) }, body: '{}' });
      expect(posted.status, String(origin)).toBe(403);
    }
    // From the dashboard's own page (its Origin), with the token and --allow-actions, it works.
    const own = await raw(port, '/queues/api/queues/pause', { method: 'PUT', headers: { origin: `http://127.0.0.1:${port}`, authorization: 'Bearer tok-123' } });
    expect(own.status).toBe(200);
    await dashboard.close();
  });

  it('?token= never redirects off-site, sets a derived cookie with an expiry, and a bad cookie is a 401, not a stack', async () => {
    const { dashboard, port } = await board('cookie', { token: 'tok-secret-456' });
    const login = await raw(port, '/.//evil.example/?token=tok-secret-456');
    expect(login.status).toBe(303);
    expect(login.headers.location).toBe('/');
    const cookie = String(login.headers['set-cookie']);
    expect(cookie).not.toContain('tok-secret-456');
    expect(cookie).toMatch(/Max-Age=43200/);
    const session = cookie.split(';')[0]!;
    expect((await raw(port, '/api/batches', { headers: { cookie: session } })).status).toBe(200);
    const malformed = await raw(port, '/api/batches', { headers: { cookie: 'nova_fleet_token=%E0%A4%A' } });
    expect(malformed.status).toBe(401);
    expect(malformed.body).not.toMatch(/\n\s+at /);
    // A session made for another token, or an expired one, is no session.
    const forged = `nova_fleet_token=${Math.floor(Date.now() / 1000) - 10}.${'A'.repeat(43)}`;
    expect((await raw(port, '/api/batches', { headers: { cookie: forged } })).status).toBe(401);
    await dashboard.close();
  });
});
