/**
 * `nova-fleet demo`: the story on embedded defaults — a mock Nova API in-process, Redis found or
 * started, a prompt rollout from jobs/ with the progress bar, a look at its report, a rollback, and
 * a check that every agent is back to its original.
 */
import path from 'node:path';
import { NovaClient } from '../api/client.js';
import { startMockApi } from '../mock/server.js';
import { PACKAGE_ROOT } from '../package-info.js';
import { openStore } from '../ops/context.js';
import { requireValidManifest } from '../ops/manifest-gate.js';
import { describeSummary } from './validate.js';
import type { Output } from './output.js';
import { exitCodeOf, runBatch, workBatch } from '../ops/run.js';
import { describeView } from './view-text.js';
import { isDeepStrictEqual } from 'node:util';
import { reportRows } from '../views/report.js';
import { createRollback } from '../ops/create-rollback.js';
import { EXIT_CODES } from '../errors.js';
import { WRITABLE_FIELDS } from '../patch/fields.js';
import { agentKey, splitAgentKey } from '../store/keys.js';

export interface DemoFlags {
  prefix?: string;
  /** API latency of the mock, ms. Default 20. */
  latency?: number;
}

export async function demoCommand(flags: DemoFlags, out: Output, until: Promise<unknown> = new Promise(() => {})): Promise<number> {
  const manifest = path.join(PACKAGE_ROOT, 'jobs', 'prompt-rollout.json');
  const say = (line: string) => out.note(line);
  say('nova-fleet demo: roll a new prompt out to 40 agents of a mock Nova fleet, look at the result, and undo it.\n');
  const api = await startMockApi({ agents: 100, orgs: 3, seed: 1, latencyMs: flags.latency ?? 20 });
  say(`1. A mock Nova API is up at ${api.url} with 100 agents in 3 orgs.`);
  const opened = await openStore({ ...(flags.prefix ? { prefix: flags.prefix } : {}), rate: 40, concurrency: 8 });
  // The demo's API is its own mock, whatever NOVA_API_URL / keys the environment holds.
  const ctx = { ...opened, config: { ...opened.config, apiUrl: api.url, apiKey: api.apiKey, keysFile: undefined } };
  const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: 8 });
  try {
    say(`2. Redis: ${ctx.target.url} (${ctx.target.source === 'private' ? 'a private redis-server started under .nova-fleet/redis/' : ctx.target.source === 'env' ? 'from REDIS_URL' : 'found on 127.0.0.1:6379'}), prefix ${ctx.config.prefix}.`);
    const report = await requireValidManifest(manifest, {}, out);
    say(`3. The manifest is valid:\n${describeSummary(report).replace(/^/gm, '   ')}`);
    const originals = new Map(api.agentIds().map((a) => [agentKey(a.org_id, a.agent_id), api.agent(a.org_id, a.agent_id)!]));
    say('4. Rolling out at up to 40 requests/s (every agent: GET, before snapshot, PATCH, after snapshot):');
    // Every demo starts a fresh mock fleet: its rollout is a new batch, not a re-run of the last demo's.
    const rollout = await runBatch(ctx, client, manifest, { rate: 40, new: true }, out, until);
    say(`\n5. Status:\n${describeView(rollout.view).replace(/^/gm, '   ')}`);
    if (rollout.interrupted || rollout.view.meta.status !== 'completed') return exitCodeOf(rollout.view, rollout.interrupted);
    const batchId = rollout.view.meta.id;

    say(`\n6. The report (\`nova-fleet report ${batchId}\`), first rows:`);
    let shown = 0;
    for await (const row of reportRows(ctx.store, batchId, { snapshots: true })) {
      if (shown++ >= 3) break;
      const before = String(row.before?.prompt_template ?? '').split('\n')[1] ?? '';
      const after = String(row.after?.prompt_template ?? '').split('\n')[1] ?? '';
      say(`   ${row.org_id.slice(0, 8)}…/${row.agent_id.slice(0, 8)}…  ${row.status}  changed ${row.changed.join(', ')}`);
      say(`     before: ${before.slice(0, 90)}\n     after:  ${after.slice(0, 90)}`);
    }

    say(`\n7. Rolling it back (\`nova-fleet rollback ${batchId} --run\`):`);
    const { meta: rollbackMeta } = await createRollback({ store: ctx.store, originId: batchId });
    const rollback = await workBatch(ctx, client, rollbackMeta, out, until);
    say(describeView(rollback.view).replace(/^/gm, '   '));

    // 8. Every agent's writable fields must equal the original (updated_at is the server's own).
    const fields = Object.keys(WRITABLE_FIELDS);
    const differing = [...originals].filter(([key, original]) => {
      const { orgId, agentId } = splitAgentKey(key);
      const now = api.agent(orgId, agentId)!;
      return fields.some((f) => !isDeepStrictEqual(now[f], original[f]));
    });
    const stats = api.stats();
    say(`\n8. Verified: ${originals.size - differing.length}/${originals.size} agents equal their originals${differing.length ? ` — ${differing.length} DIFFER` : ''}.`);
    say(`   The mock API saw ${stats.byMethod.GET ?? 0} GETs and ${stats.byMethod.PATCH ?? 0} PATCHes (${stats.changes} changed an agent).`);
    out.result(`demo: rollout ${batchId} ${rollout.view.meta.status}, rollback ${rollbackMeta.id} ${rollback.view.meta.status}, ${differing.length === 0 ? 'every agent restored' : `${differing.length} agents differ`}`, {
      rollout: { batchId, status: rollout.view.meta.status, counts: rollout.view.counts },
      rollback: { batchId: rollbackMeta.id, status: rollback.view.meta.status, counts: rollback.view.counts },
      verified: originals.size - differing.length,
      differing: differing.map(([key]) => key),
    });
    return differing.length > 0 ? EXIT_CODES.failed : exitCodeOf(rollback.view, rollback.interrupted);
  } finally {
    client.close();
    ctx.close();
    await api.close();
  }
}
