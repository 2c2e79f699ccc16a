/** Redis discovery (SPEC §6): REDIS_URL → 127.0.0.1:6379 → a private redis-server → exit 3 with a hint. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InfraError } from '../src/errors.js';
import { discoverRedis, redisAnswers } from '../src/store/connect.js';
import { ownsPort } from '../src/store/redis-server.js';
import { runCli } from './helpers/cli.js';

const homes: string[] = [];
afterAll(async () => {
  for (const home of homes) {
    const redisDir = path.join(home, '.nova-fleet/redis');
    const portFile = path.join(redisDir, 'port');
    // Only a server this file started (its pid file names it): never the shared Redis a test pointed at.
    const port = existsSync(portFile) ? Number(readFileSync(portFile, 'utf8').trim()) : 0;
    if (port > 0 && (await ownsPort(port, path.join(redisDir, 'redis.pid')))) spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);
    rmSync(home, { recursive: true, force: true });
  }
});

function home(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-home-'));
  homes.push(dir);
  return dir;
}

describe('Redis discovery', () => {
  it('takes REDIS_URL as given, without probing', async () => {
    expect(await discoverRedis({ url: 'redis://10.255.255.1:6390/2' })).toEqual({ url: 'redis://10.255.255.1:6390/2', source: 'env' });
  });

  it('uses 127.0.0.1:6379 when something answers there', async () => {
    expect(await discoverRedis({ home: home() })).toEqual({ url: 'redis://127.0.0.1:6379', source: 'default' });
  });

  it('starts a private append-only redis-server under .nova-fleet/redis/, and finds it again next time', async () => {
    const dir = home();
    const first = await discoverRedis({ home: dir, probeDefault: false });
    expect(first.source).toBe('private');
    expect(await redisAnswers(first.url)).toBe(true);
    expect(existsSync(path.join(dir, '.nova-fleet/redis/appendonlydir'))).toBe(true);
    const again = await discoverRedis({ home: dir, probeDefault: false });
    expect(again).toEqual(first);
  });

  it('does not take a Redis it did not start: a remembered port now answered by another server is replaced', async () => {
    const dir = home();
    const redisDir = path.join(dir, '.nova-fleet/redis');
    mkdirSync(redisDir, { recursive: true });
    // The remembered port is the shared 6379 now, and the pid file names a process that is not that server.
    writeFileSync(path.join(redisDir, 'port'), '6379');
    writeFileSync(path.join(redisDir, 'redis.pid'), String(process.pid));
    const found = await discoverRedis({ home: dir, probeDefault: false });
    expect(found.source).toBe('private');
    expect(found.url).not.toBe('redis://127.0.0.1:6379');
    const port = Number(new URL(found.url).port);
    expect(await ownsPort(port, path.join(redisDir, 'redis.pid'))).toBe(true);
    expect(readFileSync(path.join(redisDir, 'port'), 'utf8')).toBe(String(port));
  });

  it('fails with exit 3 and a hint when there is no Redis and no redis-server', async () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const error = await discoverRedis({ home: home(), probeDefault: false }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InfraError);
      expect((error as InfraError).exitCode).toBe(3);
      expect((error as InfraError).hint).toContain('docker compose up -d redis');
    } finally {
      process.env.PATH = saved;
    }
  });

  it('a command exits 3 when REDIS_URL points at nothing', async () => {
    const result = await runCli(['batches'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('Redis at redis://127.0.0.1:1 is unreachable');
  });

  it('a REDIS_URL the server cannot serve is exit 2, never a silent database 0 (prune there would delete someone else’s batches)', async () => {
    // Defect 3: ioredis read each of these as database 0 without a word.
    for (const [url, words] of [
      ['redis://127.0.0.1:6379/16', 'has no database 16'],
      ['redis://127.0.0.1:6379/99', 'has no database 99'],
      ['localhost:6379', 'is not a Redis URL'],
      ['127.0.0.1:6379', 'is not a Redis URL'],
      ['redis://127.0.0.1:6379/abc', 'a database is a number'],
    ] as const) {
      for (const command of [['batches'], ['prune', '--older-than', '3650']]) {
        const result = await runCli(command, { REDIS_URL: url });
        expect(result.code, `${url} ${command[0]}: ${result.stderr}`).toBe(2);
        expect(result.stderr).toContain(words);
      }
    }
  }, 60_000);

  it('a database the server has is used, and a password in the URL is never printed', async () => {
    const ok = await runCli(['batches', '--json'], { REDIS_URL: 'redis://127.0.0.1:6379/3' });
    expect(ok.code, ok.stderr).toBe(0);
    const refused = await runCli(['batches'], { REDIS_URL: '//user:s3cret-pw@127.0.0.1:6379/2' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).not.toContain('s3cret-pw');
    expect(refused.stderr).toContain('user:****@');
  });
});
