/**
 * The smaller findings of issue 13, each reproduced: --notify followed redirects, held the controller
 * step for a slow hook and showed its secret URL; --verify-cmd inherited the whole environment;
 * `config` printed a password in NOVA_API_URL; manifest error lines echoed terminal escapes and whole
 * values.
 */
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { NovaClient } from '../src/api/client.js';
import { viewBatch } from '../src/views/batch-view.js';
import { flushNotifications, notify, verifyEnvironment } from '../src/controller/hooks.js';
import { exportBatch } from '../src/ops/retention.js';
import { submitBatch } from '../src/ops/create-batch.js';
import { WorkerPool } from '../src/worker/worker-pool.js';
import { formatIssue } from '../src/manifest/errors.js';
import { validateManifest } from '../src/manifest/validate.js';
import { BatchStore } from '../src/store/batch-store.js';
import type { BatchMeta } from '../src/batch/records.js';
import { runCli } from './helpers/cli.js';
import { engineFixtures, FAST } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('hostile-misc');
const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-misc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A server that counts its hits and answers with `reply`. */
async function hookServer(reply: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url!);
    req.resume();
    reply(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, hits, close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

const metaFor = (id: string, notifyUrl: string): BatchMeta => ({ id, kind: 'rollout', manifest: 'm', digest: 'd', createdAt: Date.now(), status: 'running', total: 0, enqueued: true, options: FAST, notifyUrl });

describe('--notify', () => {
  it('does not follow a redirect (a 307 to an internal address reaches nothing), and its errors mask the URL', async () => {
    const internal = await hookServer((_req, res) => res.writeHead(200).end());
    const hook = await hookServer((_req, res) => res.writeHead(307, { location: `${internal.url}/admin` }).end());
    const store = new BatchStore(redis, testPrefix('notify-redirect'));
    const meta = metaFor('redirect-1', `${hook.url}/hooks/SECRET-TOKEN-123`);
    await store.createBatch(meta);
    const errors: string[] = [];
    await notify(store, meta, 'halted', { event: 'halted', reason: 'x' }, (error) => errors.push(error.message));
    await flushNotifications();
    expect(hook.hits).toEqual(['/hooks/SECRET-TOKEN-123']);
    expect(internal.hits).toEqual([]);
    expect(errors).toEqual([`notify ${hook.url}/**** (halted): HTTP 307 (redirects are not followed)`]);
    await Promise.all([hook.close(), internal.close()]);
  });

  it('a slow hook does not hold the batch: four waves finish at the engine’s pace, the events go out in the background', async () => {
    const hook = await hookServer((_req, res) => setTimeout(() => res.writeHead(200).end(), 5000));
    const api = await startMock({ agents: 8 });
    const prefix = testPrefix('notify-slow');
    const store = new BatchStore(redis, prefix);
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
    const pool = new WorkerPool({ redisUrl: REDIS_URL, prefix, client, concurrency: 4, pollMs: 50 });
    await pool.start();
    const started = Date.now();
    await submitBatch({ store, file: manifest('slow.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Slow hook' } }))), manifestOptions: {}, batchId: 'slow-1', options: FAST, controls: { waves: [2, 4, 6, 8], notifyUrl: `${hook.url}/hook` } });
    let meta = (await store.getBatch('slow-1'))!;
    while (meta.status !== 'completed' && Date.now() - started < 20_000) {
      await new Promise((r) => setTimeout(r, 50));
      meta = (await store.getBatch('slow-1'))!;
    }
    const took = Date.now() - started;
    await pool.close(2000);
    client.close();
    expect(meta.status).toBe('completed');
    // Three wave_done events at 5 s each held the old controller step 15 s and more.
    expect(took).toBeLessThan(10_000);
    // Three wave_done events and the completion were each tried (a 5 s hook times out at 2 s, so each
    // was tried up to three times, bounded, while the batch went on).
    expect(hook.hits.length).toBeGreaterThanOrEqual(4);
    await hook.close();
  }, 40_000);

  it('status and exports show the URL masked', async () => {
    const store = new BatchStore(redis, testPrefix('notify-mask'));
    const meta = metaFor('mask-1', 'https://hooks.example/services/T000/B000/SECRETxyz');
    await store.createBatch({ ...meta, status: 'completed' });
    expect((await viewBatch(store, (await store.getBatch('mask-1'))!)).meta.notifyUrl).toBe('https://hooks.example/****');
    const file = path.join(dir, 'mask.ndjson.gz');
    await exportBatch(store, 'mask-1', file);
    expect(gunzipSync(readFileSync(file)).toString()).not.toContain('SECRETxyz');
  });
});

describe('--verify-cmd gets a minimal environment', () => {
  it('no API key, no Redis password: only the basics, the batch, the wave and --verify-env names', () => {
    const meta = { ...metaFor('env-1', ''), verifyCmd: 'true', verifyEnv: ['CHECK_URL'] } as BatchMeta;
    const env = verifyEnvironment(meta, 1, { PATH: '/usr/bin', HOME: '/root', NOVA_API_KEY: 'sk-secret', REDIS_URL: 'redis://:pw@h', CHECK_URL: 'https://grafana/x', OTHER: 'y' });
    expect(env).toEqual({ PATH: '/usr/bin', HOME: '/root', CHECK_URL: 'https://grafana/x', NOVA_FLEET_BATCH: 'env-1', NOVA_FLEET_WAVE: '2' });
  });
});

describe('what is printed', () => {
  it('config masks a password in NOVA_API_URL', async () => {
    const result = await runCli(['config'], { NOVA_API_URL: 'https://fleet:hunter2secret@gateway.example/api' });
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('hunter2secret');
    expect(result.stdout).toContain('https://fleet:****@gateway.example/api');
  });

  it('manifest error lines show escapes instead of sending them, and never echo a whole huge value', async () => {
    const file = path.join(dir, 'escape.csv');
    writeFileSync(file, `org_id,agent_id,\u001b[2J\u001b[31mname\nor g,a1,x\n`);
    const report = await validateManifest(file);
    const lines = report.issues.map((issue) => formatIssue(file, issue));
    expect(lines.join('\n')).not.toMatch(/\u001b/);
    expect(lines.join('\n')).toContain('\\x1b[2J');
    const big = path.join(dir, 'big.ndjson');
    writeFileSync(big, JSON.stringify({ org_id: 'o1', agent_id: 'a1', patch: { type: 'v'.repeat(4 * 1024 * 1024 - 100) } }));
    const bigReport = await validateManifest(big);
    expect(bigReport.ok).toBe(false);
    for (const issue of bigReport.issues) expect(formatIssue(big, issue).length).toBeLessThan(1000);
  });
});
