/**
 * Watching and colours (issue 30, SPEC §17): `status --watch` on a terminal draws its block again in
 * place (a pseudo-terminal by util-linux `script`), off a terminal appends it; a status is coloured on a
 * terminal or with FORCE_COLOR, never with NO_COLOR, never in JSON; `batches` has a kind column.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli, spawnCli } from './helpers/cli.js';
import { engineFixtures } from './helpers/engine.js';
import { startMock } from './helpers/mock.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const { manifest } = engineFixtures('status-watch');
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[/;

/** The CLI on a pseudo-terminal for `ms`, then stopped; everything it drew. */
function onTerminalFor(args: string[], env: NodeJS.ProcessEnv, ms: number): Promise<string> {
  // A pseudo-terminal of a size (script's own has 0 rows and columns, where nothing can be drawn).
  const command = `stty rows 40 cols 120; ${[process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ')}`;
  const clean: NodeJS.ProcessEnv = { ...process.env, ...env, TERM: 'xterm' };
  delete clean.NO_COLOR;
  delete clean.FORCE_COLOR; // vitest sets it for its own output
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, env: clean });
  let text = '';
  child.stdout.on('data', (d: Buffer) => (text += d.toString()));
  setTimeout(() => child.kill('SIGTERM'), ms);
  return new Promise((resolve) => child.on('close', () => resolve(text)));
}

describe('status --watch and colours', () => {
  it('redraws in place on a terminal, appends elsewhere; colours by the rules; batches has a kind column', async () => {
    const api = await startMock({ agents: 4, orgs: 1 });
    const env = { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey, REDIS_URL, NOVA_FLEET_PREFIX: testPrefix('status-watch') };
    // Submitted, with no worker: it stays running while it is watched.
    expect((await runCli(['submit', manifest('w.ndjson', api.agentIds().map((a) => ({ ...a, patch: { name: 'Watched' } }))), '--batch', 'watched'], env)).code).toBe(0);

    const drawn = await onTerminalFor(['status', 'watched', '--watch', '--interval', '0.2'], env, 3500);
    // The block is drawn once; each refresh moves the cursor back up over what changed and rewrites it
    // (log-update rewrites only the lines that differ: here the time), never appending a second block.
    expect(drawn.split('batch watched (rollout)').length - 1).toBe(1);
    const redraws = drawn.split('\x1b[1A\x1b[G\x1b[2K\x1b[G(updated ').length - 1;
    expect(redraws).toBeGreaterThanOrEqual(2);
    expect(drawn).toContain('\x1b[36mrunning\x1b[39m'); // coloured on the terminal

    const piped = spawnCli(['status', 'watched', '--watch', '--interval', '0.2'], env);
    let stderr = '';
    piped.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise((r) => setTimeout(r, 1500));
    piped.kill('SIGTERM');
    await new Promise((r) => piped.on('close', r));
    expect(stderr.split('batch watched (rollout) — running').length - 1).toBeGreaterThanOrEqual(2);
    expect(stderr).not.toMatch(ESCAPES);

    const forced = await runCli(['status', 'watched'], { ...env, FORCE_COLOR: '1', NO_COLOR: '' });
    expect(forced.stdout).toContain('batch watched (rollout) — \x1b[36mrunning\x1b[39m');
    expect((await runCli(['status', 'watched'], { ...env, FORCE_COLOR: '1', NO_COLOR: '1' })).stdout).not.toMatch(ESCAPES);
    expect((await runCli(['status', 'watched', '--json'], { ...env, FORCE_COLOR: '1', NO_COLOR: '' })).stdout).not.toMatch(ESCAPES);
    expect((await runCli(['status', 'watched'], { ...env, FORCE_COLOR: '', NO_COLOR: '', CI: 'true' })).stdout).not.toMatch(ESCAPES); // a pipe, even on CI

    const batches = await runCli(['batches'], { ...env, FORCE_COLOR: '', NO_COLOR: '' });
    expect(batches.stdout.split('\n')[0]).toMatch(/^batch +kind +status +created \(UTC\)/);
    expect(batches.stdout.split('\n')[1]).toMatch(/^watched +rollout +running +/);
  }, 60_000);
});
