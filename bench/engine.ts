/**
 * Engine benchmarks (issue 4), each against a peer measured in the same run:
 *  (a) submit of 100k rows vs raw BullMQ addBulk of the same jobs;
 *  (b) end-to-end agents/s, no API limit, 20 ms API latency, vs a naive GET+PATCH p-limit script;
 *  (c) achieved request rate vs --rate against a mock limiting at that rate, and the share of 429s;
 *  (d) Redis bytes per agent vs the raw JSON of its before and after snapshots.
 * Everything runs under a private prefix, removed afterwards.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import pLimit from 'p-limit';
import { NovaClient } from '../src/api/client.js';
import { submitBatch } from '../src/engine/submit.js';
import { WorkerPool } from '../src/engine/worker-pool.js';
import { jobId } from '../src/engine/jobs.js';
import { spawnMock, type RemoteMock } from './mock-process.js';
import { BatchStore, type BatchOptions } from '../src/store/batch-store.js';
import { connectRedis, discoverRedis } from '../src/store/connect.js';
import { agentKey } from '../src/store/keys.js';
import type { ScriptClient } from '../src/store/scripts.js';
import { generateCsvManifest } from './gen-manifest.js';

export interface BenchRow {
  what: string;
  figure: string;
  peer: string;
  ratio: string;
  target: string;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');

async function deleteUnder(redis: ScriptClient, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

async function waitDone(store: BatchStore, batchId: string): Promise<void> {
  for (;;) {
    const meta = await store.getBatch(batchId);
    if (meta && ['completed', 'completed_with_failures', 'halted', 'cancelled'].includes(meta.status)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function ndjson(dir: string, name: string, api: RemoteMock, patch: (i: number) => unknown): Promise<string> {
  const file = path.join(dir, name);
  writeFileSync(file, (await api.agentIds()).map((a, i) => JSON.stringify({ ...a, patch: patch(i) })).join('\n'));
  return file;
}

export async function benchEngine(log: (line: string) => void): Promise<BenchRow[]> {
  const { url } = await discoverRedis({ url: process.env.REDIS_URL });
  const redis = connectRedis(url);
  const prefix = `nova-fleet-bench-${process.pid}`;
  const store = new BatchStore(redis, prefix);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-bench-'));
  const rows: BenchRow[] = [];
  const options: BatchOptions = { rate: 1_000_000, attempts: 6, backoffMs: 100, backoffCapMs: 2000 };
  let t = 0;
  try {
    // (b) end to end, no API limit, 20 ms latency, concurrency 16, vs a naive GET+PATCH pool.
    const agents = Number(process.env.BENCH_E2E_AGENTS ?? 1500);
    log(`(b) end to end, ${fmt(agents)} agents, 20 ms API latency…`);
    const concurrency = 16;
    const mockArgs = ['--agents', String(agents), '--orgs', '5', '--latency', '20', '--prompt-bytes', '3000'];
    // Warm-up: the HTTP stack (got, sockets, JSON) JIT-compiled before either side is timed, so that
    // whichever runs first is not penalised.
    let api = await spawnMock(['--agents', '200', '--latency', '1']);
    let client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: concurrency });
    const warm = pLimit(concurrency);
    await Promise.all((await api.agentIds()).map((a) => warm(async () => client.patchAgent(a.org_id, a.agent_id, { name: String((await client.getAgent(a.org_id, a.agent_id)).name) }))));
    client.close();
    await api.close();
    api = await spawnMock(mockArgs);
    let file = await ndjson(dir, 'e2e.ndjson', api, () => ({ prompt_template: { $replace: { find: 'Role', with: 'Your role' } }, extra_config: { min_words: 5 } }));
    client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: concurrency });
    let pool = new WorkerPool({ redisUrl: url, prefix, client, concurrency, batchId: 'bench-e2e', pollMs: 50 });
    await pool.start();
    t = performance.now();
    await submitBatch({ store, file, manifestOptions: {}, batchId: 'bench-e2e', options });
    await waitDone(store, 'bench-e2e');
    const e2eMs = performance.now() - t;
    await pool.close();
    const counts = await store.counts('bench-e2e');
    if (counts.applied !== agents) throw new Error(`e2e applied ${counts.applied} of ${agents}`);
    // (d) measured on this batch: Redis bytes of the batch vs raw JSON of the snapshots.
    let redisBytes = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:{bench-e2e}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) redisBytes += Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    } while (cursor !== '0');
    let rawBytes = 0;
    for (const a of await api.agentIds()) {
      const record = (await store.agentRecord('bench-e2e', agentKey(a.org_id, a.agent_id)))!;
      rawBytes += Buffer.byteLength(JSON.stringify(record.before)) + Buffer.byteLength(JSON.stringify(record.after));
    }
    await api.close();
    client.close();
    api = await spawnMock(mockArgs);
    client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: concurrency });
    const limit = pLimit(concurrency);
    const ids = await api.agentIds();
    t = performance.now();
    await Promise.all(
      ids.map((a) =>
        limit(async () => {
          const agent = await client.getAgent(a.org_id, a.agent_id);
          await client.patchAgent(a.org_id, a.agent_id, {
            prompt_template: String(agent.prompt_template).split('Role').join('Your role'),
            extra_config: { ...(agent.extra_config as object), min_words: 5 },
          });
        }),
      ),
    );
    const naiveMs = performance.now() - t;
    await api.close();
    client.close();
    const e2eRate = (agents * 1000) / e2eMs;
    const naiveRate = (agents * 1000) / naiveMs;
    rows.push({ what: `(b) end to end, ${fmt(agents)} agents, 20 ms API, concurrency ${concurrency}: agents/s`, figure: e2eRate.toFixed(0), peer: `${naiveRate.toFixed(0)} (naive GET+PATCH p-limit pool)`, ratio: (e2eRate / naiveRate).toFixed(2), target: '≥ 0.8' });
    rows.push({ what: `(d) Redis bytes per agent (before + after snapshots, status, counters)`, figure: fmt(redisBytes / agents), peer: `${fmt(rawBytes / agents)} (raw JSON of before + after)`, ratio: (redisBytes / rawBytes).toFixed(2), target: '≤ 0.4' });
    await deleteUnder(redis, prefix);

    // (a) enqueue: 100k CSV rows (each its own patch) through submit, vs raw addBulk of the same jobs.
    const count = Number(process.env.BENCH_ENQUEUE_ROWS ?? 100_000);
    log(`(a) enqueue ${fmt(count)} rows…`);
    const csv = path.join(dir, 'enqueue.csv');
    await generateCsvManifest(csv, count);
    t = performance.now();
    const submitted = await submitBatch({ store, file: csv, manifestOptions: {}, batchId: 'bench-enqueue', options });
    const oursMs = performance.now() - t;
    const rawQueue = new Queue('raw', { connection: redis, prefix: `${prefix}:{raw}` });
    const jobs = Array.from({ length: count }, (_, i) => ({ name: 'agent', data: { k: `org/agent-${i}`, l: i + 2, p: 'x'.repeat(22) }, opts: { jobId: jobId(`org/agent-${i}`), removeOnComplete: true } }));
    t = performance.now();
    for (let i = 0; i < jobs.length; i += 1000) await rawQueue.addBulk(jobs.slice(i, i + 1000));
    const peerMs = performance.now() - t;
    await rawQueue.close();
    if (submitted.enqueued !== count) throw new Error(`submit enqueued ${submitted.enqueued} of ${count}`);
    const oursRate = (count * 1000) / oursMs;
    const peerRate = (count * 1000) / peerMs;
    rows.push({ what: `(a) enqueue ${fmt(count)} rows: jobs/s (validate + register + store patch + addBulk)`, figure: fmt(oursRate), peer: `${fmt(peerRate)} (raw BullMQ addBulk)`, ratio: (oursRate / peerRate).toFixed(2), target: '≥ 0.7' });
    await deleteUnder(redis, prefix);

    // (c) the rate budget: --rate R against a mock that allows exactly R per second.
    const rate = Number(process.env.BENCH_RATE ?? 100);
    const rateAgents = rate * 5; // two requests each: ten seconds of traffic
    log(`(c) --rate ${rate} against a mock limiting at ${rate}/s, ${fmt(rateAgents)} agents…`);
    api = await spawnMock(['--agents', String(rateAgents), '--orgs', '5', '--latency', '5', '--rate-limit', String(rate), '--prompt-bytes', '500']);
    file = await ndjson(dir, 'rate.ndjson', api, () => ({ extra_config: { min_words: 7 } }));
    client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: concurrency });
    pool = new WorkerPool({ redisUrl: url, prefix, client, concurrency, batchId: 'bench-rate', pollMs: 50 });
    await pool.start();
    t = performance.now();
    await submitBatch({ store, file, manifestOptions: {}, batchId: 'bench-rate', options: { ...options, rate } });
    await waitDone(store, 'bench-rate');
    const rateMs = performance.now() - t;
    await pool.close();
    client.close();
    const stats = await api.stats();
    await api.close();
    const achieved = (stats.total * 1000) / rateMs;
    const share429 = ((stats.byStatus['429'] ?? 0) / stats.total) * 100;
    rows.push({ what: `(c) request rate with --rate ${rate}, mock limiting at ${rate}/s: requests/s (429s: ${share429.toFixed(2)}%)`, figure: achieved.toFixed(1), peer: `${rate} (the --rate asked for)`, ratio: (achieved / rate).toFixed(3), target: '≥ 0.95, < 1% 429s' });
  } finally {
    await deleteUnder(redis, prefix);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
