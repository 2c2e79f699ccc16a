/**
 * The dashboard: token rules over plain HTTP, and the pages in real headless Chromium (Debian's
 * `chromium`, driven by playwright-core — no browser download), with a screenshot saved.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDashboard } from '../src/dashboard/server.js';
import { BatchStore } from '../src/store/batch-store.js';
import { ROOT, runCli } from './helpers/cli.js';
import { engineFixtures, runToEnd } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { runCommand } from '../src/cli/run.js';
import { createOutput } from '../src/cli/output.js';
import { capture } from './helpers/capture.js';
import { testPrefix } from './helpers/redis.js';

const { manifest, redis } = engineFixtures('dashboard');
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`dashboard browser test skipped: ${CHROMIUM} is not installed (apt-get install chromium; .ci/run installs it)`);

async function seeded(name: string) {
  const api = await startMock({ agents: 8 });
  const ids = api.agentIds();
  api.configure({ agentStatus: { [ids[0]!.agent_id]: 422 } });
  const prefix = testPrefix(name);
  await runToEnd(api, prefix, manifest(`${name}.ndjson`, ids.map((a) => ({ ...a, patch: { name: 'Dashboard' } }))), `${name}-batch`);
  return new BatchStore(redis, prefix);
}

describe('dashboard', () => {
  it('serves the overview data and a streamed CSV report', async () => {
    const store = await seeded('dash-api');
    const dashboard = await startDashboard({ store, port: 0 });
    try {
      const batches = (await (await fetch(`${dashboard.url}api/batches`)).json()) as Array<{ id: string; status: string; counts: Record<string, number>; topFailures: Array<{ count: number }> }>;
      expect(batches).toHaveLength(1);
      expect(batches[0]).toMatchObject({ id: 'dash-api-batch', status: 'completed_with_failures', counts: { applied: 7, failed: 1 }, topFailures: [{ count: 1 }] });
      // What the batch cost the API (SPEC §15): 8 GETs (one answered 422), 7 PATCHes, per changed agent.
      expect((batches[0] as unknown as { requests: unknown }).requests).toEqual({ get: 8, patch: 7, list: 0, calls: 0, total: 15, perChanged: 15 / 7 });
      // Who submitted it (SPEC §16): the engine helper submits without an actor; the field is there, empty.
      expect((batches[0] as unknown as { submittedBy: unknown }).submittedBy).toBeNull();
      // The audit log's newest actions (SPEC §16): the engine helper records none.
      expect(await (await fetch(`${dashboard.url}api/audit`)).json()).toEqual([]);
      const csv = await (await fetch(`${dashboard.url}api/batches/dash-api-batch/report.csv`)).text();
      expect(csv.trim().split('\n')).toHaveLength(9);
      expect((await fetch(`${dashboard.url}api/batches/nope/report.csv`)).status).toBe(404);
    } finally {
      await dashboard.close();
    }
  });

  it('requires the token when one is set: Bearer, or ?token= once and then a cookie', async () => {
    const store = new BatchStore(redis, testPrefix('dash-token'));
    const dashboard = await startDashboard({ store, port: 0, token: 's3cret-token' });
    try {
      expect((await fetch(dashboard.url)).status).toBe(401);
      expect((await fetch(dashboard.url, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(dashboard.url, { headers: { authorization: 'Bearer s3cret-token' } })).status).toBe(200);
      const viaQuery = await fetch(`${dashboard.url}?token=s3cret-token`, { redirect: 'manual' });
      expect(viaQuery.status).toBe(303);
      const cookie = viaQuery.headers.get('set-cookie')!;
      expect(cookie).toContain('HttpOnly');
      expect((await fetch(`${dashboard.url}api/batches`, { headers: { cookie: cookie.split(';')[0]! } })).status).toBe(200);
    } finally {
      await dashboard.close();
    }
  });

  it('refuses to listen beyond loopback without a token (exit 2)', async () => {
    const result = await runCli(['dashboard', '--host', '0.0.0.0', '--port', '0'], { NOVA_FLEET_DASHBOARD_TOKEN: '' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('would be open to the network without a token');
  });

  it.skipIf(!hasChromium)('renders the batch overview and bull-board in headless Chromium (screenshot saved)', async () => {
    const { chromium } = await import('playwright-core');
    const store = await seeded('dash-ui');
    const dashboard = await startDashboard({ store, port: 0 });
    // The flags Chromium needs as root in this sandbox, and to stay off the (closed) network.
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 520 } });
      await page.goto(dashboard.url);
      const row = page.locator('tr[data-batch="dash-ui-batch"]');
      await row.waitFor({ timeout: 10_000 });
      expect(await row.innerText()).toMatch(/completed_with_failures[\s\S]*8 \/ 8 \(100%\)[\s\S]*applied 7, failed 1[\s\S]*1 × GET/);
      // The bar has a segment per outcome: 7 of 8 green, 1 of 8 red — not one green 100% bar.
      const widths = await row.locator('.bar > div').evaluateAll((divs) => divs.map((d) => `${d.className} ${(d as unknown as { style: { width: string } }).style.width}`));
      expect(widths).toEqual(['ok 87.5%', 'failed 12.5%']);
      const out = path.join(ROOT, 'test-output');
      mkdirSync(out, { recursive: true });
      await page.screenshot({ path: path.join(out, 'dashboard.png') });
      await page.goto(`${dashboard.url}queues`);
      await page.getByText('dash-ui-batch/agents').first().waitFor({ timeout: 15_000 });
      await page.getByText('Loading...').first().waitFor({ state: 'detached', timeout: 15_000 });
      await page.screenshot({ path: path.join(out, 'bull-board.png') });
      expect(existsSync(path.join(out, 'dashboard.png'))).toBe(true);
    } finally {
      await browser.close();
      await dashboard.close();
    }
  }, 60_000);

  it.skipIf(!hasChromium)('draws a calls gate: per wave the changed agents’ completion rate beside the control’s, with intervals (screenshot saved)', async () => {
    const { chromium } = await import('playwright-core');
    const api = await startMock({ agents: 40, orgs: 2, callsPerMin: 3000, callMs: 100, badMarker: 'HANG UP' });
    const prefix = testPrefix('dash-gate');
    const saved = { ...process.env };
    Object.assign(process.env, { NOVA_FLEET_ACTOR: 'dana', NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, NOVA_FLEET_PREFIX: prefix, REDIS_URL: process.env.NOVA_FLEET_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' });
    try {
      const file = manifest('dash-gate.ndjson', api.agentIds().map((a) => ({ ...a, patch: { prompt_template: 'Be brisk. HANG UP on hesitation.' } })));
      const code = await runCommand(file, { batch: 'dash-gate', rate: 100, waves: [{ kind: 'percent', p: 10 }, { kind: 'percent', p: 100 }], gate: 'calls', bake: 1500, minCalls: 100 }, createOutput(true, capture().stream, capture().stream), new Promise<never>(() => {}));
      expect(code).toBe(1);
    } finally {
      process.env = saved;
    }
    const dashboard = await startDashboard({ store: new BatchStore(redis, prefix), port: 0 });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 520 } });
      await page.goto(dashboard.url);
      const chart = page.locator('tr[data-batch="dash-gate"] svg.gate');
      await chart.waitFor({ timeout: 10_000 });
      // Who submitted it (SPEC §16), under its id.
      expect(await page.locator('tr[data-batch="dash-gate"] td').first().innerText()).toMatch(/rollout · \d{4}-\d\d-\d\d \d\d:\d\d:\d\d · by dana/);
      // And the audit log's newest actions under the batches: dana's run of it.
      const run = page.locator('#actions tr[data-action="run"]');
      await run.waitFor({ timeout: 5_000 });
      expect((await run.innerText()).split('\t').map((c) => c.trim().split('\n')[0])).toEqual([expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/), 'dana', 'run', 'dash-gate', '']);
      // Two bars (changed, control), each with its interval, and the verdict under them.
      expect(await chart.locator('rect').evaluateAll((bars) => bars.map((b) => b.getAttribute('data-cohort')))).toEqual(['treated', 'control']);
      expect(await chart.locator('line.whisker').count()).toBe(2);
      expect(await chart.locator('text.degraded').textContent()).toBe('wave 1: degraded');
      const [treated, control] = await chart.locator('rect').evaluateAll((bars) => bars.map((b) => Number(b.getAttribute('height'))));
      expect(treated!).toBeLessThan(control! * 0.85); // 0.6 against 0.9, drawn so
      expect(await chart.locator('rect title').first().textContent()).toMatch(/^changed: \d+\.\d% of \d+ calls \(\d+\.\d%–\d+\.\d%\)$/);
      const out = path.join(ROOT, 'test-output');
      mkdirSync(out, { recursive: true });
      await page.screenshot({ path: path.join(out, 'dashboard-gate.png') });
    } finally {
      await browser.close();
      await dashboard.close();
    }
  }, 60_000);
});
