/**
 * Starting a redis-server of our own on a free port. A port found free can be taken before the server
 * binds it (another test's server, another user's): the server then dies, or — worse — the port
 * answers PING for somebody else's Redis. So a start counts only when the server at the port is the
 * very process that wrote our pid file, and a lost race is tried again on another port.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';

/** A port nothing listens on right now (the OS's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Whether `port` can be bound on 127.0.0.1 now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The pid of the Redis answering at 127.0.0.1:`port` (INFO server), or undefined if none answers. */
export async function redisPid(port: number, timeoutMs = 300): Promise<number | undefined> {
  const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  probe.on('error', () => {});
  try {
    await probe.connect();
    const match = /process_id:(\d+)/.exec(await probe.info('server'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  } finally {
    probe.disconnect();
  }
}

function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether the Redis at `port` is the process whose pid is in `pidFile`. */
export async function ownsPort(port: number, pidFile: string): Promise<boolean> {
  const pid = readPid(pidFile);
  return pid !== undefined && (await redisPid(port)) === pid;
}

export interface RedisServerOptions {
  binary: string;
  dir: string;
  /** Arguments beyond port, bind, dir, daemonize, pid file and log file (given the port, if they name it). */
  args?: readonly string[] | ((port: number) => readonly string[]);
  /** File names under `dir`, given the port (several servers may share one folder). */
  pidFile?: (port: number) => string;
  logFile?: (port: number) => string;
  /** Cluster nodes also need port + 10000 (the cluster bus) free. */
  clusterBus?: boolean;
  /** Ports to try before giving up (default 5). */
  tries?: number;
}

export interface StartedRedis {
  port: number;
  pid: number;
  pidFile: string;
  logFile: string;
}

/** Starts a daemonized redis-server on a free port it is shown to own; throws after `tries` lost races. */
export async function startRedisServer(options: RedisServerOptions): Promise<StartedRedis> {
  const pidFileOf = options.pidFile ?? (() => 'redis.pid');
  const logFileOf = options.logFile ?? (() => 'redis.log');
  let last = 'no port tried';
  for (let attempt = 0; attempt < (options.tries ?? 5); attempt++) {
    const port = await freePort();
    if (options.clusterBus && (port + 10000 > 65535 || !(await portFree(port + 10000)))) {
      last = `cluster bus port ${port + 10000} in use`;
      continue;
    }
    const pidFile = path.join(options.dir, pidFileOf(port));
    const logFile = path.join(options.dir, logFileOf(port));
    const stale = readPid(pidFile);
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', options.dir, '--daemonize', 'yes', '--pidfile', pidFile, '--logfile', logFile, ...(typeof options.args === 'function' ? options.args(port) : (options.args ?? []))];
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(options.binary, args, { stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0) throw new Error(`redis-server exited with ${code} (see ${logFile})`);
    // Up to 5 s for the daemon to write its pid and answer as itself; it dies at once if the bind failed.
    for (let i = 0; i < 50; i++) {
      const pid = readPid(pidFile);
      if (pid !== undefined && pid !== stale) {
        if ((await redisPid(port)) === pid) return { port, pid, pidFile, logFile };
        if (!alive(pid)) break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const pid = readPid(pidFile);
    if (pid !== undefined && pid !== stale && alive(pid)) process.kill(pid, 'SIGKILL'); // ours, but not on its port
    last = `port ${port} was taken before redis-server bound it`;
  }
  throw new Error(`could not start redis-server: ${last}`);
}
