/**
 * The key's budget (issue 16): two batches at once on one API key, each `--rate R`, against an API that
 * allows R requests/s on that key — beside one batch alone in the same run. Without a shared schedule
 * each batch's own would offer R (2R together) and the 429s would halve each by turns; with the key's
 * schedule in Redis they share R. Figure: the key budget used (requests/s answered 2xx ÷ R), 429s.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NovaClient } from '../src/api/client.js';
import { submitBatch } from '../src/ops/create-batch.js';
import { WorkerPool } from '../src/worker/worker-pool.js';
import { BatchStore } from '../src/store/batch-store.js';
import { connectRedis, discoverRedis } from '../src/store/connect.js';
import type { BenchRow } from './engine.js';
import { spawnMock } from './mock-process.js';

export async function benchKeyBudget(log: (line: string) => void): Promise<BenchRow[]> {
  const rate = Number(process.env.BENCH_KEY_RATE ?? 40);
  const agents = rate * 4; // two requests each: eight seconds of one batch's traffic at the key's rate
  const { url } = await discoverRedis({ url: process.env.REDIS_URL });
  const redis = connectRedis(url);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-keys-bench-'));
  const options = { rate, attempts: 6, backoffMs: 200, backoffCapMs: 2000 };
  const oneRound = async (batches: number) => {
    const prefix = `bench-key-${batches}-${process.pid}`;
    const api = await spawnMock(['--agents', String(agents * batches), '--orgs', '2', '--latency', '5', '--rate-limit', String(rate), '--prompt-bytes', '500']);
    const ids = await api.agentIds();
    const store = new BatchStore(redis, prefix);
    const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: 32 });
    const pool = new WorkerPool({ redisUrl: url, prefix, client, concurrency: 32, pollMs: 50 });
    await pool.start();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: batches }, async (_, b) => {
        const file = path.join(dir, `key-${batches}-${b}.ndjson`);
        writeFileSync(file, ids.slice(b * agents, (b + 1) * agents).map((a) => JSON.stringify({ ...a, patch: { extra_config: { min_words: 9 } } })).join('\n'));
        await submitBatch({ store, file, manifestOptions: {}, batchId: `key-${b}`, options });
      }),
    );
    for (let b = 0; b < batches; b++) {
      for (;;) {
        const meta = await store.getBatch(`key-${b}`);
        if (meta && ['completed', 'completed_with_failures', 'halted', 'cancelled'].includes(meta.status)) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const ms = performance.now() - started;
    await pool.close();
    client.close();
    const stats = await api.stats();
    await api.close();
    const left = await redis.keys(`${prefix}:*`);
    if (left.length > 0) await redis.del(...left);
    const ok = stats.byStatus['200'] ?? 0;
    return { used: (ok * 1000) / ms / rate, share429: ((stats.byStatus['429'] ?? 0) / stats.total) * 100 };
  };
  try {
    log(`key budget: one batch, then two at once, each --rate ${rate}, one key allowed ${rate}/s…`);
    const alone = await oneRound(1);
    const two = await oneRound(2);
    return [
      {
        what: `key budget: two batches at once on one key, each --rate ${rate}, API allowing ${rate}/s on the key: share of the key's budget used (429s: ${two.share429.toFixed(2)}%; one batch alone: ${alone.share429.toFixed(2)}%)`,
        figure: `${(two.used * 100).toFixed(1)}%`,
        peer: `${(alone.used * 100).toFixed(1)}% (one batch alone, same run)`,
        ratio: (two.used / alone.used).toFixed(2),
        target: '≥ 85% used, ≤ 2% 429s',
      },
    ];
  } finally {
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
}
