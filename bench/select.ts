/**
 * `select` over a large org (issue 17): `nova-fleet select --org ORG --rate R` as a user runs it,
 * against a mock that allows R requests/s. The peer is the API's own list budget in the same run —
 * R pages of 100 agents a second, the fastest any client may list — and the figure the agents/s
 * select reached. Memory: peak RSS at 100,000 agents beside 40,000 — flat means it stops growing with
 * the org (the 10,000 run, shown too, is below V8's working heap, which a longer run grows into once).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BenchRow } from './engine.js';
import { BIN, spawnMock } from './mock-process.js';

interface Measured {
  agents: number;
  seconds: number;
  peakRssMB: number;
}

async function selectOnce(agents: number, rate: number, dir: string): Promise<Measured> {
  const api = await spawnMock(['--agents', String(agents), '--orgs', '1', '--prompt-bytes', '100', '--rate-limit', String(rate)]);
  try {
    const [first] = await api.agentIds();
    const out = path.join(dir, `select-${agents}.csv`);
    // GNU time: the command's peak RSS (KiB) and wall time, as a user timing it would see them.
    const run = spawnSync('/usr/bin/time', ['-f', '%M %e', process.execPath, BIN, 'select', '--org', first!.org_id, '--rate', String(rate), '--out', out], {
      env: { ...process.env, NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const timing = run.stderr.toString();
    if (run.status !== 0) throw new Error(`select failed: ${timing.slice(-500)}`);
    const [kib, seconds] = timing.trim().split('\n').at(-1)!.split(' ').map(Number) as [number, number];
    const rows = readFileSync(out, 'utf8').trim().split('\n').length - 1;
    if (rows !== agents) throw new Error(`select wrote ${rows} of ${agents} agents`);
    const stats = await api.stats();
    if ((stats.byStatus['429'] ?? 0) > 0) throw new Error(`select met ${stats.byStatus['429']} 429s at its own --rate`);
    return { agents, seconds, peakRssMB: Math.round(kib / 1024) };
  } finally {
    await api.close();
  }
}

export async function benchSelect(log: (line: string) => void): Promise<BenchRow[]> {
  const rate = Number(process.env.BENCH_SELECT_RATE ?? 50);
  const large = Number(process.env.BENCH_SELECT_AGENTS ?? 100_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-select-bench-'));
  try {
    log(`select: ${large.toLocaleString('en')} agents of one org, then 40,000 and 10,000, at --rate ${rate} against an API allowing ${rate}/s…`);
    const big = await selectOnce(large, rate, dir);
    const mid = await selectOnce(40_000, rate, dir);
    const small = await selectOnce(10_000, rate, dir);
    const budget = rate * 100; // agents/s: R pages of 100
    const reached = big.agents / big.seconds;
    return [
      {
        what: `select ${large.toLocaleString('en')} agents of one org (list only), --rate ${rate}: agents/s, wall time as a user times it (${big.seconds.toFixed(1)} s)`,
        figure: Math.round(reached).toLocaleString('en'),
        peer: `${budget.toLocaleString('en')} (the API's list budget: ${rate} pages of 100/s)`,
        ratio: (reached / budget).toFixed(2),
        target: '≥ 0.90',
      },
      {
        what: `select: peak RSS at ${large.toLocaleString('en')} agents, MB`,
        figure: String(big.peakRssMB),
        peer: `${mid.peakRssMB} at 40,000 agents (${small.peakRssMB} at 10,000), same run`,
        ratio: (big.peakRssMB / mid.peakRssMB).toFixed(2),
        target: 'flat (≤ 1.2)',
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
