/**
 * Scale-out (issue 8): 1, 2 and 4 `nova-fleet worker` processes on one batch against the mock (its own
 * process, 50 ms latency, no limit) — agents/s and the scaling ratio — and 4 workers under one --rate,
 * against a mock limiting at that rate: the shared budget holds however many workers run.
 * Also `large`: a 200k-agent batch end to end, with Redis memory and the peak RSS of submit and of a
 * worker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, spawnMock } from './mock-process.js';
import { BatchStore } from '../src/store/batch-store.js';
import { connectRedis, discoverRedis, scanKeys } from '../src/store/connect.js';
import type { BenchRow } from './engine.js';

function startWorkers(n: number, env: NodeJS.ProcessEnv, concurrency: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, [BIN, 'worker', '--concurrency', String(concurrency), '--log-level', 'warn'], { env: { ...process.env, ...env }, stdio: 'ignore' }));
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    }),
  );
}

async function run(command: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const child = spawn(process.execPath, [BIN, ...command], { env: { ...process.env, ...env }, stdio: 'ignore' });
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`nova-fleet ${command.join(' ')} exited with ${code}`);
}

async function waitEnded(store: BatchStore, batchId: string): Promise<void> {
  for (;;) {
    const meta = await store.getBatch(batchId);
    if (meta && ['completed', 'completed_with_failures', 'halted'].includes(meta.status)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function benchScale(log: (line: string) => void): Promise<BenchRow[]> {
  const { url } = await discoverRedis({ url: process.env.REDIS_URL });
  const redis = connectRedis(url);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-scale-'));
  const rows: BenchRow[] = [];
  const cleanup = async (prefix: string) => {
    for await (const keys of scanKeys(redis, `${prefix}:*`)) await redis.del(...keys);
  };
  try {
    const agents = Number(process.env.BENCH_SCALE_AGENTS ?? 800);
    const rates: number[] = [];
    for (const n of [1, 2, 4]) {
      log(`scale: ${n} worker process${n > 1 ? 'es' : ''}, ${agents} agents, 50 ms API…`);
      const mock = await spawnMock(['--agents', String(agents), '--latency', '50', '--prompt-bytes', '1500']);
      const prefix = `nova-fleet-scale-${process.pid}-${n}`;
      const env = { NOVA_API_URL: mock.url, NOVA_API_KEY: mock.apiKey, REDIS_URL: url, NOVA_FLEET_PREFIX: prefix };
      const file = path.join(dir, `scale-${n}.ndjson`);
      writeFileSync(file, (await mock.agentIds()).map((a) => JSON.stringify({ ...a, patch: { extra_config: { min_words: 6 } } })).join('\n'));
      const workers = startWorkers(n, env, 8);
      await new Promise((r) => setTimeout(r, 1500)); // the workers are up and polling
      const t = performance.now();
      await run(['submit', file, '--batch', 'scale', '--rate', '100000'], env);
      await waitEnded(new BatchStore(redis, prefix), 'scale');
      rates.push((agents * 1000) / (performance.now() - t));
      await stopAll(workers);
      await mock.close();
      await cleanup(prefix);
    }
    rows.push({ what: `scale-out: agents/s with 1, 2, 4 worker processes (concurrency 8 each, 50 ms API, ${agents} agents)`, figure: rates.map((r) => r.toFixed(0)).join(' / '), peer: `${rates[0]!.toFixed(0)} × 1, 2, 4 (linear)`, ratio: `${(rates[1]! / rates[0]!).toFixed(2)} / ${(rates[2]! / rates[0]!).toFixed(2)}`, target: '—' });

    const rate = 50;
    log(`scale: 4 workers sharing --rate ${rate} against a mock limiting at ${rate}/s…`);
    const mock = await spawnMock(['--agents', '250', '--latency', '10', '--rate-limit', String(rate), '--prompt-bytes', '800']);
    const prefix = `nova-fleet-scale-${process.pid}-rate`;
    const env = { NOVA_API_URL: mock.url, NOVA_API_KEY: mock.apiKey, REDIS_URL: url, NOVA_FLEET_PREFIX: prefix };
    const file = path.join(dir, 'rate.ndjson');
    writeFileSync(file, (await mock.agentIds()).map((a) => JSON.stringify({ ...a, patch: { extra_config: { min_words: 6 } } })).join('\n'));
    const workers = startWorkers(4, env, 8);
    await new Promise((r) => setTimeout(r, 1500));
    const t = performance.now();
    await run(['submit', file, '--batch', 'rate', '--rate', String(rate)], env);
    await waitEnded(new BatchStore(redis, prefix), 'rate');
    const seconds = (performance.now() - t) / 1000;
    await stopAll(workers);
    const stats = await mock.stats();
    await mock.close();
    await cleanup(prefix);
    const achieved = stats.total / seconds;
    rows.push({ what: `shared budget: 4 workers, --rate ${rate}, mock limiting at ${rate}/s: requests/s (429s: ${(((stats.byStatus['429'] ?? 0) / stats.total) * 100).toFixed(2)}%)`, figure: achieved.toFixed(1), peer: `${rate} (the --rate asked for)`, ratio: (achieved / rate).toFixed(3), target: '≤ 1.0, < 1% 429s' });
  } finally {
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
