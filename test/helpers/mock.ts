/** Start the project's own mock Nova API on an ephemeral loopback port, closed after the test file. */
import { afterAll } from 'vitest';
import { NovaClient, type NovaClientOptions } from '../../src/api/client.js';
import { startMockApi, type MockApi, type MockApiOptions } from '../../src/mock/server.js';

const open: MockApi[] = [];
const clients: NovaClient[] = [];

afterAll(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(open.splice(0).map((api) => api.close()));
});

export async function startMock(options: MockApiOptions = {}): Promise<MockApi> {
  const api = await startMockApi({ agents: 20, orgs: 2, promptBytes: 2500, ...options });
  open.push(api);
  return api;
}

export function clientFor(api: MockApi, options: Partial<NovaClientOptions> = {}): NovaClient {
  const client = new NovaClient({ baseUrl: api.url, apiKey: api.apiKey, ...options });
  clients.push(client);
  return client;
}

/** The first agent of the mock's fleet. */
export function firstAgent(api: MockApi): { org: string; id: string } {
  const first = api.agentIds()[0]!;
  return { org: first.org_id, id: first.agent_id };
}

/** Run `fn` and return the error it rejects with (fails the test if it resolves). */
export async function rejection<E = Error>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise;
  } catch (error) {
    return error as E;
  }
  throw new Error('expected the promise to reject, but it resolved');
}
