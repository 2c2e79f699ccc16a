/**
 * A large fleet (issue 8): N agents (default 200,000) against the mock in fast mode (short prompts,
 * no latency, its own process), 4 worker processes. Prints agents/s, the batch's Redis memory, and the
 * peak RSS of `submit` and of one worker (GNU time). Run alone: `npm run bench -- large`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, spawnMock } from './mock-process.js';
import { BatchStore } from '../src/store/batch-store.js';
import { connectRedis, discoverRedis, scanKeys } from '../src/store/connect.js';
import type { BenchRow } from './engine.js';

/** Runs nova-fleet under GNU time; resolves with the peak RSS in MB once it exits. */
function timed(args: string[], env: NodeJS.ProcessEnv, rssFile: string) {
  const child = spawn('/usr/bin/time', ['-f', '%M', '-o', rssFile, process.execPath, BIN, ...args], { env: { ...process.env, ...env }, stdio: 'ignore' });
  return {
    child,
    peakMB: async () => {
      if (child.exitCode === null) await once(child, 'exit');
      return Math.round(Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) / 1024);
    },
  };
}

async function settled(store: BatchStore, batchId: string): Promise<void> {
  for (;;) {
    const meta = await store.getBatch(batchId);
    if (meta && meta.status !== 'running') return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** MEMORY USAGE of every key under the prefix: the history index's buckets apart from the rest. */
async function redisBytes(redis: ReturnType<typeof connectRedis>, prefix: string): Promise<{ batch: number; history: number }> {
  const out = { batch: 0, history: 0 };
  for await (const keys of scanKeys(redis, `${prefix}:*`)) {
    for (const key of keys) out[key.startsWith(`${prefix}:history:`) ? 'history' : 'batch'] += Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
  }
  return out;
}

export async function benchLarge(log: (line: string) => void): Promise<BenchRow[]> {
  const agents = Number(process.env.BENCH_LARGE_AGENTS ?? 200_000);
  const { url } = await discoverRedis({ url: process.env.REDIS_URL });
  const redis = connectRedis(url);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-large-'));
  const prefix = `nova-fleet-large-${process.pid}`;
  const mock = await spawnMock(['--agents', String(agents), '--orgs', '20', '--prompt-bytes', '300']);
  try {
    const ids = await mock.agentIds();
    const file = path.join(dir, 'large.csv');
    writeFileSync(file, `org_id,agent_id,extra_config.min_words,name\n${ids.map((a, i) => `${a.org_id},${a.agent_id},5,Agent ${i}`).join('\n')}\n`);
    const env = { NOVA_API_URL: mock.url, NOVA_API_KEY: mock.apiKey, REDIS_URL: url, NOVA_FLEET_PREFIX: prefix };
    log(`large: ${agents.toLocaleString('en')} agents, 4 workers…`);
    const workers = Array.from({ length: 4 }, (_, i) => timed(['worker', '--concurrency', '32', '--log-level', 'warn'], env, path.join(dir, `worker-${i}.rss`)));
    await new Promise((r) => setTimeout(r, 1500));
    const t = performance.now();
    const submit = timed(['submit', file, '--batch', 'large', '--rate', '100000'], env, path.join(dir, 'submit.rss'));
    const submitMB = await submit.peakMB();
    const store = new BatchStore(redis, prefix);
    await settled(store, 'large');
    const seconds = (performance.now() - t) / 1000;
    const counts = await store.counts('large');
    const one = await redisBytes(redis, prefix);
    if (process.env.BENCH_LARGE_PAUSE) await new Promise((r) => setTimeout(r, Number(process.env.BENCH_LARGE_PAUSE)));
    // A second version of every agent (issue 29): the history index's cost is per agent-version, set
    // against the per-agent figure without it (the batch's own keys: today's layout).
    writeFileSync(file, `org_id,agent_id,extra_config.min_words,name\n${ids.map((a, i) => `${a.org_id},${a.agent_id},6,Agent ${i} v2`).join('\n')}\n`);
    await new Promise<void>((resolve, reject) => timed(['submit', file, '--batch', 'large-2', '--rate', '100000'], env, path.join(dir, 'submit-2.rss')).child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`second submit: exit ${code}`)))));
    await settled(store, 'large-2');
    const two = await redisBytes(redis, prefix);
    const bytes = one.batch + one.history;
    // SIGTERM to the node process under GNU time (time itself would just die without a report).
    for (const w of workers) spawnSync('pkill', ['-TERM', '-P', String(w.child.pid)]);
    const workerMB = Math.max(...(await Promise.all(workers.map((w) => w.peakMB()))));
    for await (const keys of scanKeys(redis, `${prefix}:*`)) await redis.del(...keys);
    const perAgent = one.batch / agents;
    const perVersion = (two.batch + two.history) / (2 * agents);
    return [
      { what: `large fleet: ${agents.toLocaleString('en')} agents, 4 workers × 32, mock without latency: agents/s (applied ${counts.applied.toLocaleString('en')})`, figure: (agents / seconds).toFixed(0), peer: '—', ratio: '—', target: 'completes' },
      { what: 'large fleet: Redis memory of the batch, MB (per agent, bytes)', figure: `${(bytes / 2 ** 20).toFixed(0)} (${Math.round(bytes / agents)})`, peer: '—', ratio: '—', target: '—' },
      { what: `large fleet: Redis bytes per agent-version, two batches over every agent (history index ${Math.round(two.history / (2 * agents))} B of it); peer: bytes per agent of one batch without the index`, figure: perVersion.toFixed(0), peer: perAgent.toFixed(0), ratio: (perVersion / perAgent).toFixed(2), target: '≤ 1.10' },
      { what: 'large fleet: peak RSS, MB — submit / one worker', figure: `${submitMB} / ${workerMB}`, peer: '—', ratio: '—', target: '—' },
    ];
  } finally {
    await mock.close();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
}
