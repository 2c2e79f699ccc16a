/**
 * What commands that call the API share: the client (node:http) and the metrics server — apart from
 * context.ts so that commands that only read Redis (`status`, `batches`, `report`) never load them.
 * prom-client (with @opentelemetry/api, ~35 ms) is loaded only when `--metrics-port` asks for it.
 */
import { NovaClient, type ResponseInfo } from '../api/client.js';
import { KeyRing } from '../api/credentials.js';
import type { Config } from '../config.js';
import { InfraError, UsageError } from '../errors.js';
import { NovaApiError } from '../api/errors.js';
import type { Metrics } from '../metrics.js';

/**
 * The API client of this process, with its keys (SPEC §10): NOVA_API_KEY and/or a keys file. Refuses
 * (exit 2) an API base that is the SDK's per-org one, and no key at all.
 */
export function apiClient(config: Config, onResponse?: (info: ResponseInfo) => void, warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): NovaClient {
  if (/\/org\/[^/]+\/?$|\/org\/?$/.test(new URL(config.apiUrl).pathname)) {
    throw new UsageError(`NOVA_API_URL ends in /org/…: ${config.apiUrl.replace(/\/\/[^@/]*@/, '//****@')} is a per-org base (as the vendor's SDK builds it)`, 'give the API base, e.g. https://v2-nova-api.prod.czmx.in/api: nova-fleet adds /org/{org_id}/agents/… itself');
  }
  if (!config.apiKey && !config.keysFile) {
    throw new UsageError('NOVA_API_KEY is not set: workers need it to call the API', 'export NOVA_API_KEY=… (and NOVA_API_URL for another API), or give --keys FILE with one org_id=key line per org');
  }
  let client: NovaClient;
  try {
    client = new NovaClient({ baseUrl: config.apiUrl, apiKey: config.apiKey, keys: keyRing(config, warn), auth: config.auth, timeoutMs: config.timeoutMs, maxSockets: config.concurrency, ...(onResponse ? { onResponse } : {}) });
  } catch (error) {
    if (error instanceof TypeError && /PROXY|proxy/.test(error.message)) throw new UsageError(error.message, 'set HTTPS_PROXY/HTTP_PROXY to http://host:port (or unset it), NO_PROXY to the hosts reached directly');
    throw error;
  }
  // Said once per process: where the requests go is worth knowing before a batch starts.
  if (client.proxy && !saidProxy.has(client.proxy)) {
    saidProxy.add(client.proxy);
    warn(`API requests go through the proxy ${client.proxy} (HTTPS_PROXY/HTTP_PROXY; NO_PROXY exempts hosts)`);
  }
  return client;
}

const saidProxy = new Set<string>();

const rings = new Map<string, KeyRing>();

/** One key ring per keys file per process (warned about once). */
export function keyRing(config: Config, warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): KeyRing {
  const id = `${config.keysFile ?? ''}\0${config.apiKey ?? ''}`;
  let ring = rings.get(id);
  if (!ring) rings.set(id, (ring = new KeyRing({ file: config.keysFile, fallback: config.apiKey, warn })));
  return ring;
}

/** Where an org's key comes from, for messages: its line in the keys file, or NOVA_API_KEY. */
export function keySource(config: Config, orgId: string): string {
  return config.keysFile && keyRing(config).fromFile(orgId) ? `its line in the keys file ${config.keysFile}` : config.keysFile ? `NOVA_API_KEY (the keys file ${config.keysFile} has no line for it)` : 'NOVA_API_KEY';
}

/** The org a request's path names (`/org/{org_id}/…`), or undefined. */
export function orgOfPath(path: string): string | undefined {
  const match = /^\/org\/([^/?]+)/.exec(path);
  if (!match) return undefined;
  try {
    return decodeURIComponent(match[1]!);
  } catch {
    return undefined;
  }
}

/** A refused key as exit 3, naming the org, the server's words and where that org's key comes from. */
export function refusedKey(config: Config, error: NovaApiError): InfraError {
  const org = orgOfPath(error.path);
  const said = `${error.status ?? 'no key'}${error.serverMessage ? `: ${error.serverMessage}` : ''}`;
  const source = org !== undefined ? keySource(config, org) : config.keysFile ? `the keys file ${config.keysFile} or NOVA_API_KEY` : 'NOVA_API_KEY';
  return new InfraError(`the API refused the key of org ${org ?? '(unknown)'} (${said}); that key is ${source}`, `fix ${source.replace(/^its line/, 'that line')} — a key reads and writes one org only${config.auth !== 'auto' ? `; --auth ${config.auth} sends only that scheme` : ''}`);
}

/** Exit 2 naming every org of the manifest that has no key at all (nothing is created). */
export function requireKeysFor(config: Config, orgIds: Iterable<string>): void {
  const missing = keyRing(config).missing(orgIds);
  if (missing.length > 0) {
    throw new UsageError(`no API key for org${missing.length > 1 ? 's' : ''} ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ` and ${missing.length - 10} more` : ''}`, `add ${missing.length > 1 ? 'them' : 'it'} to the keys file (${config.keysFile ?? '--keys FILE'}) as org_id=key, or set NOVA_API_KEY for every org without one`);
  }
}

/** `--metrics-port N`: Prometheus metrics on http://127.0.0.1:N/metrics (0 picks a free port). */
export async function startMetrics(port: number | undefined, note: (line: string) => void): Promise<{ metrics: Metrics; close: () => Promise<void> } | undefined> {
  if (port === undefined) return undefined;
  const { Metrics, serveMetrics } = await import('../metrics.js');
  const metrics = new Metrics();
  const server = await serveMetrics(metrics, port);
  note(`metrics: http://127.0.0.1:${server.port}/metrics`);
  return { metrics, close: server.close };
}

/** What a failed selection means to the operator: exit 3 for a refused key or an unreachable API, 2 for no such org. */
export function selectFailure(error: unknown, config: Config): unknown {
  if (error instanceof NovaApiError && error.kind === 'auth') return refusedKey(config, error);
  if (error instanceof NovaApiError && error.kind === 'not_found') return new UsageError(`no such org: ${error.message}`);
  if (error instanceof NovaApiError) return new InfraError(`the Nova API could not be read: ${error.message}`, 'check NOVA_API_URL and the network');
  return error;
}
