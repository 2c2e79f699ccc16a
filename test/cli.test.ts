import { describe, expect, it } from 'vitest';
import { collect, firstJson, runCli, spawnCli } from './helpers/cli.js';

describe('nova-fleet CLI shell', () => {
  it('prints help listing only working commands, and exits 0', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('mock-api');
    expect(result.stdout).toContain('config');
  });

  it('prints its version', async () => {
    const result = await runCli(['--version']);
    expect(result).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) });
  });

  it('exits 2 with a clear message on a bad flag value', async () => {
    const result = await runCli(['mock-api', '--agents', 'many']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("option '--agents <n>' argument 'many' is invalid. Expected a whole number from 1 and up.");
  });

  it('exits 2 on an unknown command', async () => {
    expect((await runCli(['frobnicate'])).code).toBe(2);
  });

  it('config prints the resolved configuration with the key masked', async () => {
    const result = await runCli(['config', '--json'], { NOVA_API_KEY: 'sk-live-abcdefghijklmnop1234', NOVA_FLEET_PREFIX: 'pfx', REDIS_URL: 'redis://:hunter2@127.0.0.1:6379/3' });
    expect(result.code).toBe(0);
    const config = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(config).toMatchObject({ apiKey: '****1234', prefix: 'pfx', redisUrl: 'redis://:****@127.0.0.1:6379/3', rate: 10, concurrency: 8 });
    expect(result.stdout + result.stderr).not.toContain('abcdefghijklmnop');
    expect(result.stdout + result.stderr).not.toContain('hunter2');
    // Every line names a value: no "keysFile undefined" (issue 24).
    const human = await runCli(['config'], { NOVA_API_KEY: 'k', NOVA_API_KEYS_FILE: '' });
    expect(human.stdout).not.toContain('undefined');
    expect(human.stdout).toMatch(/^keysFile +\(none: NOVA_API_KEY for every org\)$/m);
    expect(config.keysFile).toBe('(none: NOVA_API_KEY for every org)');
  });

  it('mock-api serves agents that can be read, listed and patched, then stops on SIGTERM with exit 0', async () => {
    const child = spawnCli(['mock-api', '--port', '0', '--agents', '12', '--api-key', 'k', '--json']);
    const done = collect(child);
    const info = await firstJson<{ url: string; orgIds: string[]; agentsUrl: string }>(child);
    expect(info.orgIds).toHaveLength(3);
    const agents = (await (await fetch(info.agentsUrl)).json()) as { org_id: string; agent_id: string }[];
    expect(agents).toHaveLength(12);
    const { org_id, agent_id } = agents[0]!;
    const headers = { 'x-api-key': 'k', 'content-type': 'application/json' };
    const one = await fetch(`${info.url}/org/${org_id}/agents/${agent_id}`, { headers });
    expect(one.status).toBe(200);
    const list = (await (await fetch(`${info.url}/org/${org_id}/agents`, { headers })).json()) as { meta: { total: number } };
    expect(list.meta.total).toBe(4);
    const bad = await fetch(`${info.url}/org/${org_id}/agents/${agent_id}`, { method: 'PATCH', headers, body: JSON.stringify({ llm_config: { temperature: 0.2 } }) });
    expect(bad.status).toBe(400);
    const good = await fetch(`${info.url}/org/${org_id}/agents/${agent_id}`, { method: 'PATCH', headers, body: JSON.stringify({ name: 'cli' }) });
    expect(((await good.json()) as { name: string }).name).toBe('cli');
    child.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('mock API stopped');
  });

  it('mock-api --calls-per-min --bad-marker: agents take simulated calls, fewer completed while their config holds the marker', async () => {
    const child = spawnCli(['mock-api', '--port', '0', '--agents', '4', '--orgs', '1', '--api-key', 'k', '--calls-per-min', '6000', '--call-ms', '50', '--bad-marker', 'HANG UP', '--json']);
    const done = collect(child);
    const info = await firstJson<{ url: string; orgIds: string[] }>(child);
    const org = info.orgIds[0]!;
    const headers = { 'x-api-key': 'k', 'content-type': 'application/json' };
    const agents = (await (await fetch(`${info.url}/org/${org}/agents`, { headers })).json()) as { data: Array<{ id: string }> };
    for (const { id } of agents.data) await fetch(`${info.url}/org/${org}/agents/${id}`, { method: 'PATCH', headers, body: JSON.stringify({ name: 'HANG UP on everyone' }) });
    const from = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const to = new Date(Date.now() - 200).toISOString();
    const page = (await (await fetch(`${info.url}/org/${org}/calls?start_date=${from}&end_date=${to}&size=100`, { headers })).json()) as { data: Array<{ status: string; initial_agent_id: string }>; meta: { total: number } };
    expect(page.meta.total).toBeGreaterThan(300); // ~100 a second for each of 4 agents
    const completed = (await (await fetch(`${info.url}/org/${org}/calls?start_date=${from}&end_date=${to}&status=completed&size=1`, { headers })).json()) as { meta: { total: number } };
    expect(completed.meta.total / page.meta.total).toBeGreaterThan(0.45);
    expect(completed.meta.total / page.meta.total).toBeLessThan(0.75);
    child.kill('SIGTERM');
    expect((await done).code).toBe(0);
  });
});

describe('nova-fleet validate', () => {
  it('prints every problem as FILE:LINE: FIELD: message and exits 2', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/nova-fleet-cli-`);
    writeFileSync(`${dir}/bad.csv`, 'org_id,agent_id,type,vad_config.sample_rate\no1,a1,robot,16000\no1,a2,voice,fast\n');
    const result = await runCli(['validate', `${dir}/bad.csv`]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${dir}/bad.csv:2: type: expected one of "voice"|"chat"|"video"\n${dir}/bad.csv:3: vad_config.sample_rate: expected a number, got "fast"\n`);
    expect(result.stderr).toContain('nova-fleet: manifest rejected: 2 problems; nothing was done');
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace for a user's mistake
  });

  it('with --json prints the summary of a valid manifest on stdout', async () => {
    const result = await runCli(['validate', 'jobs/vad-migration.csv', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, summary: { format: 'csv', rows: 30, agents: 30, orgs: 3 } });
  });

  it('exits 2 with a hint for an unknown extension or a missing file', async () => {
    const unknown = await runCli(['validate', 'README.md']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('hint: name it .csv, .json, .ndjson or .jsonl, or pass --format csv|json|ndjson');
    const missing = await runCli(['validate', 'nope.csv']);
    expect(missing).toMatchObject({ code: 2, stderr: 'nova-fleet: cannot read manifest "nope.csv": no such file\n' });
  });
});

describe('nova-fleet config file', () => {
  const write = async (content: unknown) => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const file = `${mkdtempSync(`${tmpdir()}/nova-fleet-config-`)}/nova-fleet.config.json`;
    writeFileSync(file, JSON.stringify(content));
    return file;
  };

  it('applies flags > environment > config file > defaults', async () => {
    const file = await write({ rate: 5, concurrency: 12, prefix: 'from-file', apiUrl: 'https://nova.example/api' });
    const fromFile = JSON.parse((await runCli(['config', '--json', '--config', file], { NOVA_FLEET_PREFIX: '', NOVA_API_URL: '' })).stdout) as Record<string, unknown>;
    expect(fromFile).toMatchObject({ rate: 5, concurrency: 12, prefix: 'from-file', apiUrl: 'https://nova.example/api', timeoutMs: 30000, configFile: file });
    const fromEnv = JSON.parse((await runCli(['config', '--json', '--config', file], { NOVA_FLEET_PREFIX: 'from-env' })).stdout) as Record<string, unknown>;
    expect(fromEnv.prefix).toBe('from-env');
    const fromFlag = JSON.parse((await runCli(['config', '--json', '--config', file, '--prefix', 'from-flag'], { NOVA_FLEET_PREFIX: 'from-env' })).stdout) as Record<string, unknown>;
    expect(fromFlag.prefix).toBe('from-flag');
  });

  it('refuses an API key in the file, and unknown keys, with exit 2', async () => {
    const withKey = await runCli(['config', '--config', await write({ apiKey: 'sk-live-123' })]);
    expect(withKey.code).toBe(2);
    expect(withKey.stderr).toContain('apiKey: the API key is not read from a file');
    expect(withKey.stderr).toContain('hint: set NOVA_API_KEY in the environment instead');
    const typo = await runCli(['config', '--config', await write({ concurency: 4 })]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('unknown key concurency');
  });
});
