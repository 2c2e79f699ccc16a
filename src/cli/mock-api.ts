/** `nova-fleet mock-api`: run the mock Nova API (SPEC §8) until SIGINT/SIGTERM. */
import { startMockApi, type MockApiOptions } from '../mock/server.js';
import type { Output } from './output.js';

/** The flags of `mock-api` as commander names them (every one has a default there). */
export interface MockApiFlags {
  port: number;
  host: string;
  agents: number;
  orgs: number;
  seed: number;
  promptBytes: number;
  apiKey: string;
  rateLimit: number;
  retryAfter: 'seconds' | 'date';
  latency: number;
  failRate: number;
  dropBefore: number;
  dropAfter: number;
  slowRate: number;
  slowMs: number;
  failAgents?: Record<string, number>;
  orgKeys?: boolean;
  readOnlyKeys?: string[];
  authScheme?: 'x-api-key' | 'bearer' | 'both';
  callsPerMin: number;
  badMarker?: string;
  callMs: number;
}

export function mockOptionsFromFlags(flags: MockApiFlags): MockApiOptions {
  const { retryAfter, latency, dropBefore, dropAfter, failAgents, readOnlyKeys, ...same } = flags;
  return {
    ...same,
    ...(readOnlyKeys?.length ? { readOnlyOrgs: readOnlyKeys } : {}),
    retryAfterFormat: retryAfter,
    latencyMs: latency,
    dropBeforeRate: dropBefore,
    dropAfterRate: dropAfter,
    ...(failAgents ? { agentStatus: failAgents } : {}),
  };
}

/** Resolves when a signal arrives; the server is then closed. */
export async function mockApiCommand(options: MockApiOptions, out: Output, until: Promise<unknown> = signal()): Promise<void> {
  const api = await startMockApi(options);
  const summary = {
    url: api.url,
    orgIds: api.orgIds,
    agents: options.agents ?? 100,
    agentsUrl: `${new URL(api.url).origin}/__mock/agents`,
    ...(options.orgKeys ? { keys: api.keys } : {}),
    statsUrl: `${new URL(api.url).origin}/__mock/stats`,
  };
  out.result(
    [
      `Nova mock API listening on ${api.url}`,
      `  agents: ${summary.agents} in ${api.orgIds.length} orgs (seed ${options.seed ?? 1})`,
      `  orgs:   ${api.orgIds.join(' ')}`,
      `  list:   GET ${summary.agentsUrl}   counters: GET ${summary.statsUrl}`,
      options.orgKeys
        ? `  keys:   one per org (GET ${new URL(api.url).origin}/__mock/keys), for a --keys file:\n${Object.entries(api.keys).map(([org, key]) => `          ${org}=${key}`).join('\n')}`
        : `  use:    export NOVA_API_URL=${api.url} NOVA_API_KEY=<the --api-key${options.apiKey ? '' : ', default mock-key'}>`,
      ...(options.authScheme && options.authScheme !== 'both' ? [`  auth:   only ${options.authScheme === 'bearer' ? 'Authorization: Bearer' : 'X-API-Key'}`] : []),
      'Ctrl-C to stop.',
    ].join('\n'),
    summary,
  );
  await until;
  await api.close();
  out.note('mock API stopped');
}

function signal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}
