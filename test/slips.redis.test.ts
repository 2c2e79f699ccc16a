/**
 * Everyday slips are clear errors (SPEC §13): each gets one line naming the thing and the fix, with
 * SPEC's exit code — never a stack trace, "a bug", or a process that hangs. Through the real CLI.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli, type CliResult } from './helpers/cli.js';
import { REDIS_URL, testPrefix } from './helpers/redis.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-slips-'));
const prefix = testPrefix('slips');
const env = { REDIS_URL, NOVA_FLEET_PREFIX: prefix, NOVA_API_KEY: 'slip-key', NOVA_API_URL: 'http://127.0.0.1:9/api' };
let busy: Server;
let busyPort: number;

beforeAll(async () => {
  // A port held for the whole file: taken for sure, not guessed free.
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as { port: number }).port;
  // A batch big enough that its CSV report overflows a pipe's buffer (submit calls no API).
  const rows = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ org_id: 'org-1', agent_id: `agent-${i}`, patch: { name: `Slip ${i}` } }));
  writeFileSync(path.join(dir, 'big.ndjson'), rows.join('\n'));
  const submitted = await runCli(['submit', '--no-preflight', path.join(dir, 'big.ndjson'), '--batch', 'slips-1'], env);
  expect(submitted.code, submitted.stderr).toBe(0);
});
afterAll(() => {
  busy.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A one-line error: the message, no stack, no "a bug". */
function expectClean(result: CliResult, code: number, message: string) {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stderr).toContain(message);
  expect(result.stderr).not.toMatch(/\n\s+at |unexpected error|Error:/);
}

describe('everyday slips', () => {
  it('`report | head`: stops quietly with exit 0 when the reader closes the pipe', async () => {
    const out = execFileSync('bash', ['-c', `node ${JSON.stringify(BIN)} report slips-1 2>"${dir}/report.err" | head -n 2 >/dev/null; echo "\${PIPESTATUS[0]}"`], { cwd: ROOT, env: { ...process.env, ...env } }).toString();
    expect(out.trim()).toBe('0');
    expect(execFileSync('cat', [`${dir}/report.err`]).toString()).toBe('');
  });

  it('`report --out` and `export` into a missing folder: exit 2 naming the folder and `mkdir -p`', async () => {
    expectClean(await runCli(['report', 'slips-1', '--out', path.join(dir, 'archive/report.csv')], env), 2, `the folder ${dir}/archive/ does not exist`);
    const exported = await runCli(['export', 'slips-1', path.join(dir, 'archive/slips-1.ndjson.gz')], env);
    expectClean(exported, 2, 'does not exist');
    expect(exported.stderr).toContain('mkdir -p');
    // With the folder made, both work.
    mkdirSync(path.join(dir, 'archive'));
    expect((await runCli(['export', 'slips-1', path.join(dir, 'archive/slips-1.ndjson.gz')], env)).code).toBe(0);
  });

  it('`import` of a missing file or a folder: exit 2 saying which', async () => {
    expectClean(await runCli(['import', path.join(dir, 'nope.ndjson.gz')], env), 2, 'cannot read archive');
    expectClean(await runCli(['import', path.join(dir, 'nope.ndjson.gz')], env), 2, 'no such file');
    expectClean(await runCli(['import', dir], env), 2, 'it is a folder');
  });

  it('`worker` with Redis down: exit 3 and how to get one', async () => {
    const result = await runCli(['worker'], { ...env, REDIS_URL: 'redis://127.0.0.1:1' });
    expectClean(result, 3, 'Redis at redis://127.0.0.1:1 is unreachable');
    expect(result.stderr).toContain('hint:');
  });

  it('a busy port for mock-api, dashboard and --metrics-port: exit 2, and the process ends', async () => {
    expectClean(await runCli(['mock-api', '--port', String(busyPort)], env), 2, `mock-api: port ${busyPort} on 127.0.0.1 is already in use`);
    expectClean(await runCli(['dashboard', '--port', String(busyPort)], env), 2, `dashboard: port ${busyPort} on 127.0.0.1 is already in use`);
    expectClean(await runCli(['worker', '--metrics-port', String(busyPort)], env), 2, `--metrics-port: port ${busyPort} on 127.0.0.1 is already in use`);
  }, 30_000);

  it('an invalid --prefix or NOVA_FLEET_PREFIX: exit 2 at once, not "a bug" and a hang', async () => {
    expectClean(await runCli(['status', '--prefix', 'bad prefix*'], env), 2, 'invalid Redis prefix "bad prefix*" (from --prefix)');
    expectClean(await runCli(['batches'], { ...env, NOVA_FLEET_PREFIX: 'x{y}' }), 2, 'invalid Redis prefix "x{y}" (from NOVA_FLEET_PREFIX)');
  });

  it('a FIFO or a device given as a file: exit 2, not a hang', async () => {
    const fifo = path.join(dir, 'manifest.csv');
    execFileSync('mkfifo', [fifo]);
    expectClean(await runCli(['validate', fifo], env), 2, 'not a regular file');
    expectClean(await runCli(['config', '--config', '/dev/zero'], env), 2, 'cannot read config file "/dev/zero": not a regular file');
    expectClean(await runCli(['rollback', 'slips-1', '--agents', '/dev/zero'], env), 2, 'cannot read agent list "/dev/zero": not a regular file');
  });

  it('a closed stdout mid-report leaves nothing running (the report exits promptly)', async () => {
    const child = spawn(process.execPath, [BIN, 'report', 'slips-1', '--format', 'ndjson'], { cwd: ROOT, env: { ...process.env, ...env } });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stdout.once('data', () => child.stdout.destroy());
    // A hang is caught by the test's own timeout; no wall-clock bound to flake on a loaded machine.
    expect(await exited).toBe(0);
  });

  it('a migration given to run, a plan given to submit: named as what they are, with the command that takes them', async () => {
    const migration = path.join(ROOT, 'jobs/cap-temperature.migration.mjs');
    const ran = await runCli(['run', migration], env);
    expectClean(ran, 2, 'is a migration module: run takes a manifest');
    expect(ran.stderr).toContain(`nova-fleet plan ${migration} --out plan.json`);
    expect(ran.stderr).not.toContain('.csv');
    const plan = path.join(dir, 'reviewed.plan.json');
    writeFileSync(plan, '{"nova_fleet_plan":1,"header":{}}\n');
    const submitted = await runCli(['submit', plan], env);
    expectClean(submitted, 2, 'is a plan (written by `nova-fleet plan --out`): submit takes a manifest');
    expect(submitted.stderr).toContain(`nova-fleet apply ${plan}`);
  });
});
