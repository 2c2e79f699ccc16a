/**
 * `nova-fleet demo`: the story on embedded defaults — a mock Nova API in-process whose agents take
 * simulated calls, Redis found or started; a bad prompt rolled out in waves judged by the calls, halted
 * at its first wave and undone; the good prompt from jobs/ passing every wave; a look at its report, a
 * rollback, and a check that every agent is back to its original.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { NovaClient } from '../api/client.js';
import { startMockApi } from '../mock/server.js';
import { PACKAGE_ROOT } from '../package-info.js';
import { openStore } from '../ops/context.js';
import { requireValidManifest } from '../ops/manifest-gate.js';
import { describeSummary } from './validate.js';
import type { Output } from './output.js';
import { automaticRollback, exitCodeOf, runBatch, workBatch } from '../ops/run.js';
import { describeView, gateLine } from './view-text.js';
import { isDeepStrictEqual } from 'node:util';
import { reportRows } from '../views/report.js';
import { createRollback } from '../ops/create-rollback.js';
import { EXIT_CODES } from '../errors.js';
import { WRITABLE_FIELDS } from '../patch/fields.js';
import { agentKey, splitAgentKey } from '../store/keys.js';

/** The text whose presence in a prompt makes the mock's calls complete less often (the quality rule). */
const BAD_MARKER = 'HANG UP';

/** The demo's waves and calls gate: 10% then 100%, a 3 s bake (calls are frequent in the mock). */
const GATED = { rate: 40, waves: [{ kind: 'percent' as const, p: 10 }, { kind: 'percent' as const, p: 100 }], gate: 'calls' as const, bake: 3000, minCalls: 100, gateTimeout: 20_000 };

/** The manifest's agents with a bad prompt, in a temporary folder (removed after). */
async function badManifest(manifest: string, tag: string): Promise<string> {
  const { agents } = JSON.parse(await readFile(manifest, 'utf8')) as { agents: Array<{ org_id: string; agent_id: string }> };
  const dir = await mkdtemp(path.join(os.tmpdir(), `nova-fleet-demo-${tag.replace(/[^A-Za-z0-9_-]/g, '')}-`));
  const file = path.join(dir, 'prompt-hang-up.ndjson');
  const prompt = `You are a busy support agent. ${BAD_MARKER} as soon as a caller hesitates.`;
  await writeFile(file, agents.map((a) => JSON.stringify({ org_id: a.org_id, agent_id: a.agent_id, patch: { prompt_template: prompt } })).join('\n') + '\n');
  return file;
}

export interface DemoFlags {
  prefix?: string;
  /** API latency of the mock, ms. Default 20. */
  latency?: number;
}

export async function demoCommand(flags: DemoFlags, out: Output, until: Promise<unknown> = new Promise(() => {})): Promise<number> {
  const manifest = path.join(PACKAGE_ROOT, 'jobs', 'prompt-rollout.json');
  const say = (line: string) => out.note(line);
  say('nova-fleet demo: roll a new prompt out to 40 agents of a mock Nova fleet in waves judged by their calls — first a bad one, then a good one — look at the result, and undo it.\n');
  // Calls are short and frequent here so that a wave is judged in seconds, not the 10 minutes of a real bake.
  const api = await startMockApi({ agents: 100, orgs: 3, seed: 1, latencyMs: flags.latency ?? 20, callsPerMin: 1200, callMs: 200, badMarker: BAD_MARKER });
  say(`1. A mock Nova API is up at ${api.url} with 100 agents in 3 orgs, each taking ~20 calls a second: 90% complete, 60% while the agent's prompt says "${BAD_MARKER}".`);
  const opened = await openStore({ ...(flags.prefix ? { prefix: flags.prefix } : {}), rate: 40, concurrency: 8 });
  // The demo's API is its own mock, whatever NOVA_API_URL / keys the environment holds.
  const ctx = { ...opened, config: { ...opened.config, apiUrl: api.url, apiKey: api.apiKey, keysFile: undefined } };
  const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, maxSockets: 8 });
  try {
    say(`2. Redis: ${ctx.target.url} (${ctx.target.source === 'private' ? 'a private redis-server started under .nova-fleet/redis/' : ctx.target.source === 'env' ? 'from REDIS_URL' : 'found on 127.0.0.1:6379'}), prefix ${ctx.config.prefix}.`);
    const report = await requireValidManifest(manifest, {}, out);
    say(`3. The manifest is valid:\n${describeSummary(report).replace(/^/gm, '   ')}`);
    const originals = new Map(api.agentIds().map((a) => [agentKey(a.org_id, a.agent_id), api.agent(a.org_id, a.agent_id)!]));
    await new Promise((resolve) => setTimeout(resolve, GATED.bake)); // calls before any change, for the last wave's before/after

    say(`4. First a bad prompt ("${BAD_MARKER}" when a caller hesitates), in waves of 10% then 100%, each judged by its agents' calls against the agents not yet changed (--gate calls --auto-rollback):`);
    const bad = await badManifest(manifest, ctx.store.prefix);
    try {
      const halted = await runBatch(ctx, client, bad, { ...GATED, autoRollback: true, new: true }, out, until);
      if (halted.interrupted) return exitCodeOf(halted.view, true);
      for (const analysis of halted.view.analyses ?? []) say(`   ${gateLine(analysis)}`);
      say(`   → ${halted.view.meta.status}: ${halted.view.meta.haltReason ?? ''}`);
      // The automatic rollback the controller creates on the halt: worked here to its end.
      const undoMeta = await automaticRollback(ctx, halted.view.meta, until);
      if (!undoMeta) {
        say('   → the batch was not halted by its calls gate: the demo stops here.');
        return EXIT_CODES.failed;
      }
      const undo = await workBatch(ctx, client, undoMeta, out, until);
      say(`   → rolled back: ${undo.view.counts.restored} agents restored; the other ${originals.size - undo.view.counts.restored} were never touched.\n`);
    } finally {
      await rm(path.dirname(bad), { recursive: true, force: true });
    }

    say('5. Now the good prompt (jobs/prompt-rollout.json), the same waves and gate — every agent: GET, before snapshot, PATCH, after snapshot:');
    // Every demo starts a fresh mock fleet: its rollout is a new batch, not a re-run of the last demo's.
    const rollout = await runBatch(ctx, client, manifest, { ...GATED, new: true }, out, until);
    say(`\n   Status:\n${describeView(rollout.view).replace(/^/gm, '   ')}`);
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
