/**
 * docker-compose.yml and the Dockerfile, checked without a Docker engine (there is none on our
 * machines): parsed with a YAML library, every service's command checked against the real CLI.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildProgram } from '../src/cli/program.js';
import { ROOT } from './helpers/cli.js';

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  container_name?: string;
  profiles?: string[];
  volumes?: string[];
}

const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const cliCommands = new Set(buildProgram(() => {}).commands.map((c) => c.name()));

describe('docker-compose.yml', () => {
  it('has Redis 7 with append-only persistence on a volume and a health check', () => {
    const redis = compose.services.redis!;
    expect(redis.image).toMatch(/^redis:7/);
    expect(redis.command).toEqual(expect.arrayContaining(['--appendonly', 'yes', '--appendfsync', 'always']));
    expect(redis.volumes).toEqual(['redis-data:/data']);
    expect(compose.volumes).toHaveProperty('redis-data');
    expect(redis.healthcheck!.test).toEqual(['CMD', 'redis-cli', 'ping']);
    expect(redis.ports).toEqual(['127.0.0.1:6379:6379']);
  });

  it('has the mock API, a scalable worker and a one-shot demo, built from this repository', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['demo', 'mock-api', 'redis', 'worker']);
    for (const name of ['mock-api', 'worker', 'demo']) expect(compose.services[name]!.build).toBe('.');
    const worker = compose.services.worker!;
    // `docker compose up --scale worker=4` needs no fixed name and no host port.
    expect(worker.container_name).toBeUndefined();
    expect(worker.ports).toBeUndefined();
    expect(worker.environment).toMatchObject({ REDIS_URL: 'redis://redis:6379', NOVA_API_URL: expect.stringContaining('mock-api:4010/api') });
    expect(worker.depends_on).toEqual({ redis: { condition: 'service_healthy' }, 'mock-api': { condition: 'service_healthy' } });
    expect(compose.services.demo!.profiles).toEqual(['demo']);
    expect(compose.services['mock-api']!.healthcheck!.test.join(' ')).toContain('/__mock/stats');
  });

  it('runs only commands and flags the CLI has', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (!service.command || service.image) continue;
      const [command, ...args] = service.command;
      expect(cliCommands, `${name} runs "${command}"`).toContain(command);
      const cmd = buildProgram(() => {}).commands.find((c) => c.name() === command)!;
      const flags = new Set(cmd.options.map((o) => o.long));
      for (const arg of args.filter((a) => a.startsWith('--'))) expect(flags, `${name}: ${command} ${arg}`).toContain(arg);
    }
  });

  it('the mock API listens on all interfaces inside its container, on the published port', () => {
    const command = compose.services['mock-api']!.command!;
    expect(command.slice(0, 5)).toEqual(['mock-api', '--host', '0.0.0.0', '--port', '4010']);
    expect(compose.services['mock-api']!.ports).toEqual(['127.0.0.1:4010:4010']);
  });
});

describe('Dockerfile', () => {
  it('is multi-stage, installs production dependencies only in the final stage, and runs as a non-root user', () => {
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/^FROM node:20[^\n]* AS build$/m);
    const final = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    expect(final).toContain('npm ci --omit=dev --ignore-scripts');
    expect(final).toContain('COPY --from=build /app/dist ./dist');
    expect(final).toMatch(/^USER node$/m);
    expect(final).toContain('ENTRYPOINT ["node", "bin/nova-fleet.js"]');
    // The build stage has what `npm ci`'s build reads: the sources and the bundler's script (dist/cli).
    const build = dockerfile.slice(0, dockerfile.lastIndexOf('FROM '));
    for (const dir of ['src', 'bench', 'scripts']) expect(build).toContain(`COPY ${dir} ./${dir}`);
  });
});
