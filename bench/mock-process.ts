/**
 * The mock Nova API in a process of its own, as the real API is remote: its CPU (JSON, body
 * validation) must not share the event loop of what is measured. Killed when the bench exits, even
 * after a failure, so no mock outlives its run.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import type { MockStats } from '../src/mock/server.js';
import { PACKAGE_ROOT } from '../src/package-info.js';

export const BIN = path.join(PACKAGE_ROOT, 'bin/nova-fleet.js');

export interface RemoteMock {
  url: string;
  apiKey: string;
  agentIds(): Promise<Array<{ org_id: string; agent_id: string }>>;
  stats(): Promise<MockStats>;
  close(): Promise<void>;
}

export async function spawnMock(args: string[]): Promise<RemoteMock> {
  const child = spawn(process.execPath, [BIN, 'mock-api', '--port', '0', '--json', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  let buffer = '';
  const info = await new Promise<{ url: string }>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      try {
        resolve(JSON.parse(buffer) as { url: string });
      } catch {
        // not complete yet
      }
    });
    child.once('exit', (code) => reject(new Error(`mock-api exited with ${code}`)));
  });
  const origin = new URL(info.url).origin;
  return {
    url: info.url,
    apiKey: 'mock-key',
    agentIds: async () => (await (await fetch(`${origin}/__mock/agents`)).json()) as Array<{ org_id: string; agent_id: string }>,
    stats: async () => (await (await fetch(`${origin}/__mock/stats`)).json()) as MockStats,
    close: async () => {
      process.off('exit', kill);
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
