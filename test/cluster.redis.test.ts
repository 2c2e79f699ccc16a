/**
 * Redis Cluster: a real 3-master cluster from the local redis-server, a batch and its rollback run
 * through a `redis+cluster://` URL, and the batch pruned again.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NovaClient } from '../src/api/client.js';
import { createRollback } from '../src/ops/create-rollback.js';
import { pruneBatches } from '../src/ops/retention.js';
import { submitBatch } from '../src/ops/create-batch.js';
import { WorkerPool } from '../src/worker/worker-pool.js';
import { WRITABLE_FIELDS } from '../src/patch/fields.js';
import { BatchStore } from '../src/store/batch-store.js';
import { connectRedis, parseClusterUrl, scanKeys } from '../src/store/connect.js';
import { startRedisServer } from '../src/store/redis-server.js';
import type { ScriptClient } from '../src/store/scripts.js';
import { engineFixtures, FAST } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';

const { manifest } = engineFixtures('cluster');
const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-cluster-'));
let ports: number[] = [];
let url = '';
let redis: ScriptClient;

beforeAll(async () => {
  for (let i = 0; i < 3; i++) {
    const started = await startRedisServer({
      binary: 'redis-server',
      dir,
      args: (port) => ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--save', '', '--appendonly', 'no'],
      clusterBus: true,
      pidFile: (port) => `${port}.pid`,
      logFile: (port) => `${port}.log`,
    });
    ports.push(started.port);
  }
  execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (ports.every((p) => spawnSync('redis-cli', ['-p', String(p), 'cluster', 'info']).stdout.toString().includes('cluster_state:ok'))) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  url = `redis+cluster://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}`;
  redis = connectRedis(url);
}, 30_000);

afterAll(() => {
  redis?.disconnect();
  for (const port of ports) spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);
  rmSync(dir, { recursive: true, force: true });
});

describe('Redis Cluster', () => {
  it('parses cluster URLs with credentials and TLS', () => {
    expect(parseClusterUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7001')).toEqual({ nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }], tls: false });
    expect(parseClusterUrl('rediss+cluster://app:p%40ss@h:6380')).toEqual({ nodes: [{ host: 'h', port: 6380 }], username: 'app', password: 'p@ss', tls: true });
    expect(parseClusterUrl('redis://127.0.0.1:6379')).toBeUndefined();
  });

  it('runs a batch and its rollback on a 3-master cluster, then prunes it', async () => {
    expect(redis).toBeInstanceOf(Cluster);
    const api = await startMock({ agents: 20 });
    const ids = api.agentIds();
    const originals = new Map(ids.map((a) => [a.agent_id, api.agent(a.org_id, a.agent_id)!]));
    const writable = (agent: Record<string, unknown>) => Object.fromEntries(Object.keys(WRITABLE_FIELDS).map((f) => [f, agent[f]]));
    const store = new BatchStore(redis, 'nfc');
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey });
    const pool = new WorkerPool({ redisUrl: url, prefix: 'nfc', client, concurrency: 8, pollMs: 50 });
    await pool.start();
    let rollbackId = '';
    const waitFor = async (id: string) => {
      for (let i = 0; i < 300; i++) {
        const meta = await store.getBatch(id);
        if (meta && ['completed', 'completed_with_failures', 'halted'].includes(meta.status)) return meta;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`batch ${id} did not end`);
    };
    try {
      await submitBatch({ store, file: manifest('cluster.ndjson', ids.map((a) => ({ ...a, patch: { prompt_template: { $replace: { find: 'Role', with: 'Role (cluster)' } }, vad_config: { sample_rate: 44100 } } }))), manifestOptions: {}, batchId: 'on-cluster', options: FAST });
      expect((await waitFor('on-cluster')).status).toBe('completed');
      expect(await store.counts('on-cluster')).toMatchObject({ applied: 20, pending: 0 });
      for (const a of ids) expect(String(api.agent(a.org_id, a.agent_id)!.prompt_template)).toBe(String(originals.get(a.agent_id)!.prompt_template).split('Role').join('Role (cluster)'));
      const { meta: rollback } = await createRollback({ store, originId: 'on-cluster' });
      rollbackId = rollback.id;
      expect((await waitFor(rollback.id)).status).toBe('completed');
      expect(await store.counts(rollback.id)).toMatchObject({ restored: 20 });
      for (const a of ids) expect(writable(api.agent(a.org_id, a.agent_id)!)).toEqual(writable(originals.get(a.agent_id)!));
    } finally {
      await pool.close(2000);
      client.close();
    }
    // Each batch's keys (its queue's included) sit on one node, under its hash tag.
    const nodesHolding = async (batchId: string) => {
      const holding = new Set<string>();
      for (const node of (redis as unknown as Cluster).nodes('master')) {
        const [, keys] = await node.scan('0', 'MATCH', `nfc:{${batchId}}:*`, 'COUNT', 10_000);
        if (keys.length > 0) holding.add(`${node.options.port}`);
      }
      return holding;
    };
    expect((await nodesHolding('on-cluster')).size).toBe(1);
    const { pruned } = await pruneBatches(store, 0, Date.now() + 1000);
    expect(pruned.sort()).toEqual(['on-cluster', rollbackId].sort());
    const left: string[] = [];
    for await (const keys of scanKeys(redis, 'nfc:*')) left.push(...keys);
    // Nothing of the batches is left but their ids among the pruned (a journal of them is not rebuilt).
    expect(left).toEqual(['nfc:pruned']);
    expect(await store.pruned.has('on-cluster')).toBe(true);
  }, 60_000);
});
