/**
 * `nova-fleet demo`: the story on embedded defaults — a mock Nova API in-process, Redis found or
 * started, a prompt rollout from jobs/ with the progress bar, then the batch's status.
 */
import path from 'node:path';
import { NovaClient } from '../api/client.js';
import { startMockApi } from '../mock/server.js';
import { PACKAGE_ROOT } from '../package-info.js';
import { openStore } from './context.js';
import { describeSummary, requireValidManifest } from './manifest-gate.js';
import type { Output } from './output.js';
import { exitCodeOf, runBatch } from './run.js';
import { describeView } from '../engine/batch-view.js';

export interface DemoFlags {
  prefix?: string;
  /** API latency of the mock, ms. Default 20. */
  latency?: number;
}

export async function demoCommand(flags: DemoFlags, out: Output, until: Promise<unknown> = new Promise(() => {})): Promise<number> {
  const manifest = path.join(PACKAGE_ROOT, 'jobs', 'prompt-rollout.json');
  const say = (line: string) => out.note(line);
  say('nova-fleet demo: roll a new prompt out to 40 agents of a mock Nova fleet, safely.\n');
  const api = await startMockApi({ agents: 100, orgs: 3, seed: 1, latencyMs: flags.latency ?? 20 });
  say(`1. A mock Nova API is up at ${api.url} with 100 agents in 3 orgs.`);
  const ctx = await openStore({ ...(flags.prefix ? { prefix: flags.prefix } : {}), rate: 40, concurrency: 8 });
  const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: 8 });
  try {
    say(`2. Redis: ${ctx.target.url} (${ctx.target.source === 'private' ? 'a private redis-server started under .nova-fleet/redis/' : ctx.target.source === 'env' ? 'from REDIS_URL' : 'found on 127.0.0.1:6379'}), prefix ${ctx.config.prefix}.`);
    const report = await requireValidManifest(manifest, {}, out);
    say(`3. The manifest is valid:\n${describeSummary(report).replace(/^/gm, '   ')}`);
    say('4. Rolling out at up to 40 requests/s (every agent: GET, before snapshot, PATCH, after snapshot):');
    const { view, interrupted } = await runBatch(ctx, client, manifest, { rate: 40 }, out, until);
    say(`\n5. Status:\n${describeView(view).replace(/^/gm, '   ')}`);
    const stats = api.stats();
    say(`\nThe mock API saw ${stats.byMethod.GET ?? 0} GETs and ${stats.byMethod.PATCH ?? 0} PATCHes (${stats.changes} changed an agent).`);
    out.result(`demo: batch ${view.meta.id} ${view.meta.status}`, { batchId: view.meta.id, status: view.meta.status, counts: view.counts });
    return exitCodeOf(view, interrupted);
  } finally {
    client.close();
    ctx.close();
    await api.close();
  }
}
