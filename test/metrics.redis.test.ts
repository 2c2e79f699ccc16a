/** Prometheus metrics of a real worker process, scraped over HTTP after a batch. */
import { describe, expect, it } from 'vitest';
import { BatchStore } from '../src/store/batch-store.js';
import { collect, spawnCli, runCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('metrics');

describe('worker --metrics-port', () => {
  it('serves requests by method and status, latency, agents by outcome, rate-limit waits and 429s', async () => {
    const api = await startMock({ agents: 12, rateLimit: 30, burst: 2 });
    const ids = api.agentIds();
    api.configure({ agentStatus: { [ids[0]!.agent_id]: 422 } });
    const prefix = testPrefix('metrics');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    await runCli(['submit', manifest('metrics.ndjson', ids.map((a) => ({ ...a, patch: { name: 'Measured' } }))), '--batch', 'm1', '--rate', '60', '--no-preflight'], env);
    const worker = spawnCli(['worker', '--metrics-port', '0', '--log-format', 'json'], env);
    const done = collect(worker);
    let url: string | undefined;
    worker.stdout.on('data', (d: Buffer) => {
      url ??= /"msg":"metrics: (http:[^"]+)"/.exec(d.toString())?.[1];
    });
    const store = new BatchStore(redis, prefix);
    for (let i = 0; i < 300 && (await store.getBatch('m1'))!.status === 'running'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const text = await (await fetch(url!)).text();
    worker.kill('SIGTERM');
    expect((await done).code).toBe(0);
    const stats = api.stats();
    const value = (line: string) => Number(new RegExp(`^${line.replace(/[{}"]/g, (c) => `\\${c}`)} (\\d+(?:\\.\\d+)?)$`, 'm').exec(text)?.[1]);
    expect(value('nova_fleet_api_requests_total{method="GET",status="200"}')).toBe(stats.byMethodStatus['GET 200']);
    expect(value('nova_fleet_api_requests_total{method="PATCH",status="200"}')).toBe(11);
    expect(value('nova_fleet_api_requests_total{method="GET",status="422"}')).toBe(1);
    expect(value('nova_fleet_agents_total{batch="m1",outcome="applied"}')).toBe(11);
    // Requests the batch sent, by kind (SPEC §15): every GET (429s and the 422 included) and PATCH.
    expect(value('nova_fleet_batch_requests_total{batch="m1",kind="get"}')).toBe(stats.byMethod.GET);
    expect(value('nova_fleet_batch_requests_total{batch="m1",kind="patch"}')).toBe(stats.byMethod.PATCH);
    expect(value('nova_fleet_agents_total{batch="m1",outcome="failed"}')).toBe(1);
    expect(value('nova_fleet_rate_limit_waits_total{batch="m1"}')).toBeGreaterThan(0);
    expect(value('nova_fleet_rate_limited_total{batch="m1"}')).toBe(stats.byStatus['429'] ?? 0);
    expect(text).toMatch(/^nova_fleet_api_request_duration_seconds_bucket\{le="0\.05",method="GET"\} \d+$/m);
    // The batch's effective rate: --rate 60, lowered by 429s at most to its floor (a tenth).
    const rate = value('nova_fleet_rate{batch="m1"}');
    expect(rate).toBeGreaterThanOrEqual(6);
    expect(rate).toBeLessThanOrEqual(60);
    expect(text).toContain('nova_fleet_process_resident_memory_bytes');
  });
});
