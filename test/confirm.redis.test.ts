/**
 * Destructive commands confirm (issue 30, SPEC §17): `prune`, `rollback --force`, `restore` and
 * `import --trust` refuse without a terminal and without `--yes` (exit 2, nothing done); on a terminal
 * (a pseudo-terminal by util-linux `script`) they ask y/N: `n` keeps everything, `y` goes ahead.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest } = engineFixtures('confirm');

/** Runs the CLI on a pseudo-terminal, typing `answer` once the question is on it. */
function onTerminal(args: string[], env: NodeJS.ProcessEnv, answer: string): Promise<{ code: number | null; text: string }> {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, env: { ...process.env, ...env } });
  let text = '';
  let typed = false;
  child.stdout.on('data', (d: Buffer) => {
    text += d.toString();
    if (!typed && text.includes('[y/N]')) {
      typed = true;
      child.stdin.write(`${answer}\n`);
    }
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, text })));
}

describe('confirmations', () => {
  it('prune: refused without a terminal and --yes (exit 2, nothing deleted); on a terminal n keeps, y deletes; --yes deletes', async () => {
    const api = await startMock({ agents: 3, orgs: 1 });
    const prefix = testPrefix('confirm-prune');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const file = manifest('prune.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Pruned' } })));
    for (const id of ['old-1', 'old-2']) expect((await runCli(['run', file, '--batch', id, '--new', '--rate', '200'], env)).code).toBe(0);
    const count = async () => (await runCli(['batches'], env)).stdout.match(/old-\d/g)?.length ?? 0;

    const refused = await runCli(['prune', '--older-than', '0'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('prune: delete 2 batches older than 0 days, with every snapshot and record (old-1, old-2)? — not confirmed: there is no terminal to ask on, and --yes was not given; nothing was done');
    expect(await count()).toBe(2);

    const no = await onTerminal(['prune', '--older-than', '0'], env, 'n');
    expect(no.text).toContain('[y/N]');
    expect(no.code).toBe(2);
    expect(await count()).toBe(2);

    const yes = await onTerminal(['prune', '--older-than', '0'], env, 'y');
    expect(yes.code, yes.text).toBe(0);
    expect(yes.text).toContain('prune: deleted 2 batches');
    expect(await count()).toBe(0);
  }, 60_000);

  it('rollback --force, restore and import --trust: refused without --yes, nothing created; --yes goes ahead', async () => {
    const api = await startMock({ agents: 3, orgs: 1 });
    const prefix = testPrefix('confirm-others');
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: prefix };
    const file = manifest('others.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Changed' } })));
    expect((await runCli(['run', file, '--batch', 'origin', '--rate', '200'], env)).code).toBe(0);
    const ids = async () => (await runCli(['batches'], env)).stdout;

    const forced = await runCli(['rollback', 'origin', '--force'], env);
    expect([forced.code, forced.stderr]).toEqual([2, expect.stringContaining('rollback origin --force: agents someone edited since')]);
    expect(await ids()).not.toContain('origin-rollback');
    const restore = await runCli(['restore', '--to', 'origin', '--batch', 'back'], env);
    expect([restore.code, restore.stderr]).toEqual([2, expect.stringContaining('restore: 3 agents back to')]);
    expect(await ids()).not.toMatch(/\bback\b/);

    // Without --force a rollback overwrites nothing: no question.
    const plain = await runCli(['rollback', 'origin'], env);
    expect(plain.code, plain.stderr).toBe(0);
    expect(await ids()).toContain('origin-rollback');

    const archive = path.join(mkdtempSync(path.join(os.tmpdir(), 'nf-confirm-')), 'origin.ndjson.gz');
    expect((await runCli(['export', 'origin', archive], env)).code).toBe(0);
    const other = { ...env, NOVA_FLEET_PREFIX: testPrefix('confirm-import') };
    const trusted = await runCli(['import', archive, '--trust'], other);
    expect([trusted.code, trusted.stderr]).toEqual([2, expect.stringContaining('with --trust: its --verify-cmd and --notify URL are kept')]);
    expect((await runCli(['batches'], other)).stdout).not.toContain('origin');
    expect((await runCli(['import', archive, '--trust', '--yes'], other)).code).toBe(0);
    expect((await runCli(['batches'], other)).stdout).toContain('origin');
  }, 60_000);
});
