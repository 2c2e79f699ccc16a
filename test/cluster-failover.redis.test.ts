/**
 * Redis Cluster failing over mid-batch (issue 25): 3 masters with a replica each, the master holding the
 * batch SIGKILLed while `run` works it. Its replica takes over (cluster-node-timeout 2 s): `run` rides
 * out the redirections and CLUSTERDOWN answers — never "a bug" — and the batch finishes, every agent
 * changed exactly once.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer } from '../src/store/redis-server.js';
import { collect, spawnCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';

const { manifest } = engineFixtures('cluster-failover');
const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-failover-'));
const nodes: Array<{ port: number; pid: number }> = [];
let url = '';

beforeAll(async () => {
  for (let i = 0; i < 6; i++) {
    const started = await startRedisServer({
      binary: 'redis-server',
      dir,
      args: (port) => ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000', '--cluster-replica-validity-factor', '0', '--save', '', '--appendonly', 'no'],
      clusterBus: true,
      pidFile: (port) => `${port}.pid`,
      logFile: (port) => `${port}.log`,
    });
    nodes.push({ port: started.port, pid: started.pid });
  }
  execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (nodes.every((n) => spawnSync('redis-cli', ['-p', String(n.port), 'cluster', 'info']).stdout.toString().includes('cluster_state:ok'))) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // Every replica in sync with its master first: a replica that never synced is not promoted.
  for (let i = 0; i < 200; i++) {
    const infos = nodes.map((n) => spawnSync('redis-cli', ['-p', String(n.port), 'info', 'replication']).stdout.toString());
    if (infos.filter((info) => info.includes('role:slave') && info.includes('master_link_status:up')).length === 3) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  url = `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
}, 60_000);

afterAll(() => {
  for (const node of nodes) spawnSync('redis-cli', ['-p', String(node.port), 'shutdown', 'nosave']);
  rmSync(dir, { recursive: true, force: true });
});

/** The master holding the most keys under `prefix` (a batch's keys share one hash tag: one master). */
async function masterOf(prefix: string): Promise<{ port: number; pid: number }> {
  const cluster = new Cluster(nodes.slice(0, 3).map((n) => ({ host: '127.0.0.1', port: n.port })));
  try {
    await new Promise((resolve) => cluster.once('ready', resolve));
    let best = { port: 0, keys: -1 };
    for (const node of cluster.nodes('master')) {
      const [, keys] = await node.scan('0', 'MATCH', `${prefix}:*`, 'COUNT', 100_000);
      if (keys.length > best.keys) best = { port: Number(node.options.port), keys: keys.length };
    }
    return nodes.find((n) => n.port === best.port)!;
  } finally {
    cluster.disconnect();
  }
}

describe('Redis Cluster failover', () => {
  it('the master holding the batch killed mid-run: its replica takes over, the batch finishes, every agent changed once', async () => {
    const api = await startMock({ agents: 30 });
    const env = { REDIS_URL: url, NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, NOVA_FLEET_PREFIX: 'failover' };
    const file = manifest('failover.ndjson', api.agentIds().map((a) => ({ ...a, patch: { prompt_template: { $replace: { find: 'Role', with: 'Role (failover)' } } } })));
    const done = collect(spawnCli(['run', file, '--rate', '10', '--concurrency', '4'], env));
    const deadline = Date.now() + 20_000;
    while ((api.stats().byMethod.PATCH ?? 0) < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const master = await masterOf('failover');
    process.kill(master.pid, 'SIGKILL'); // issue 25: "unexpected error (a bug): Too many Cluster redirections"
    const result = await done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/unexpected error|\n\s+at /);
    expect(Object.values(api.stats({ perAgent: true }).appliedPerAgent!)).toEqual(api.agentIds().map(() => 1));
    for (const a of api.agentIds()) expect(String(api.agent(a.org_id, a.agent_id)!.prompt_template)).not.toContain('(failover) (failover)');
  }, 90_000);
});
