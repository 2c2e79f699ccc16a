/**
 * Requests per changed agent (issue 28, SPEC §15): `run` (a GET and a PATCH each), `apply` of a fresh
 * plan (list rows confirm each agent, one PATCH), `apply` of a plan whose agents all moved since (each
 * read again and found a conflict) — and the wall clock of a fresh-plan `apply` of 1,500 agents against
 * an API allowing 20 requests/s, beside the same apply reading every agent first (`--freshness 0`, the
 * way every apply went before). Whole CLI processes against the mock in its own process.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { BenchRow } from './engine.js';
import { BIN, spawnMock, type RemoteMock } from './mock-process.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Outcome {
  seconds: number;
  requests: { get: number; patch: number; list: number; total: number; perChanged?: number };
  counts: Record<string, number>;
}

function cli(args: string[], env: Record<string, string>): { code: number | null; stderr: string; stdout: string; seconds: number } {
  const started = process.hrtime.bigint();
  const run = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  return { code: run.status, stderr: run.stderr, stdout: run.stdout, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

async function setLimit(api: RemoteMock, rate: number): Promise<void> {
  await fetch(`${new URL(api.url).origin}/__mock/faults`, { method: 'POST', body: JSON.stringify({ rateLimit: rate }) });
}

/** One batch worked here (`run` of the manifest, or `apply` of its plan): its wall clock and its request counts. */
async function once(kind: 'run' | 'apply' | 'apply-moved' | 'apply-today', agents: number, rate: number, dir: string): Promise<Outcome> {
  const api = await spawnMock(['--agents', String(agents), '--orgs', '3', '--prompt-bytes', '300']);
  const prefix = `bench-fresh-${randomBytes(3).toString('hex')}`;
  const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix, NOVA_FLEET_JOURNAL_DIR: dir };
  const redis = new Redis(REDIS_URL);
  try {
    const ids = await api.agentIds();
    const manifest = path.join(dir, `${kind}.ndjson`);
    writeFileSync(manifest, ids.map((a) => JSON.stringify({ ...a, patch: { prompt_template: 'Benchmarked prompt v2' } })).join('\n'));
    const args = ['--batch', 'b', '--rate', String(rate), '--concurrency', '16', '--no-preflight'];
    if (kind !== 'run') {
      const plan = path.join(dir, `${kind}.plan.json`);
      const planned = cli(['plan', manifest, '--out', plan, '--rate', '2000'], env);
      if (planned.code !== 0) throw new Error(`plan failed: ${planned.stderr.slice(-400)}`);
      if (kind === 'apply-moved') {
        // Every planned agent edited by someone else since, in the planned field: each must be a conflict.
        await Promise.all(ids.map((a) => fetch(`${api.url}/org/${a.org_id}/agents/${a.agent_id}`, { method: 'PATCH', headers: { 'x-api-key': api.apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ prompt_template: 'Theirs' }) })));
      }
      await setLimit(api, rate);
      const applied = cli(['apply', plan, '--run', ...args, ...(kind === 'apply-today' ? ['--freshness', '0s'] : [])], env);
      if (applied.code !== 0 && !(kind === 'apply-moved' && applied.code === 1)) throw new Error(`apply failed: ${applied.stderr.slice(-400)}`);
      return { seconds: applied.seconds, ...(await figures(env)) };
    }
    await setLimit(api, rate);
    const ran = cli(['run', manifest, ...args], env);
    if (ran.code !== 0) throw new Error(`run failed: ${ran.stderr.slice(-400)}`);
    return { seconds: ran.seconds, ...(await figures(env)) };
  } finally {
    await api.close();
    for (let cursor = '0'; ; ) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      if ((cursor = next) === '0') break;
    }
    redis.disconnect();
  }
}

async function figures(env: Record<string, string>): Promise<Omit<Outcome, 'seconds'>> {
  const status = cli(['status', 'b', '--json'], env);
  const view = JSON.parse(status.stdout) as { requests: Outcome['requests']; counts: Record<string, number> };
  return { requests: view.requests, counts: view.counts };
}

export async function benchFreshPlan(log: (line: string) => void): Promise<BenchRow[]> {
  const agents = Number(process.env.BENCH_FRESH_AGENTS ?? 1500);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-fresh-bench-'));
  try {
    log('requests: run, apply of a fresh plan, apply of a plan whose agents all moved (300 agents, 3 orgs, 200/s)…');
    const run = await once('run', 300, 200, dir);
    const fresh = await once('apply', 300, 200, dir);
    const moved = await once('apply-moved', 300, 200, dir);
    log(`requests: run ${JSON.stringify(run.requests)}, fresh ${JSON.stringify(fresh.requests)}, moved ${JSON.stringify(moved.requests)} ${JSON.stringify(moved.counts)}`);
    log(`wall clock: apply of a fresh plan of ${agents} agents at 20 requests/s, then the same reading every agent first…`);
    const fast = await once('apply', agents, 20, dir);
    const today = await once('apply-today', agents, 20, dir);
    log(`wall clock: ${fast.seconds.toFixed(1)} s (${JSON.stringify(fast.requests)}) vs ${today.seconds.toFixed(1)} s (${JSON.stringify(today.requests)})`);
    const per = (o: Outcome, of = 300) => (o.requests.total / of).toFixed(2);
    return [
      { what: 'requests per changed agent: `run` of 300 agents (3 orgs)', figure: per(run), peer: '2.00 (a GET and a PATCH)', ratio: (run.requests.total / 600).toFixed(2), target: '2.0' },
      { what: 'requests per changed agent: `apply` of a fresh plan of 300 agents (list pages + PATCHes)', figure: per(fresh), peer: `${per(run)} (run, same run)`, ratio: (fresh.requests.total / run.requests.total).toFixed(2), target: '≤ 1.05' },
      { what: `requests per planned agent: \`apply\` of a plan whose 300 agents all moved (${moved.counts.conflict ?? 0} conflicts found)`, figure: per(moved), peer: '2.00', ratio: (moved.requests.total / 600).toFixed(2), target: '≤ 2.0, all conflicts found' },
      { what: `wall clock: \`apply --run\` of a fresh plan of ${agents.toLocaleString('en')} agents, API allowing 20 requests/s (${fast.requests.total} requests)`, figure: `${fast.seconds.toFixed(1)} s`, peer: `${today.seconds.toFixed(1)} s (every agent read first, --freshness 0: ${today.requests.total} requests)`, ratio: (fast.seconds / today.seconds).toFixed(2), target: '≤ 0.55' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
