/**
 * The Nova API client: the one owner of HTTP in nova-fleet. Built on got (transport.ts; SPEC §17) with
 * no retries of its own — BullMQ's attempts are the single retry layer (STYLE habit 4) — and every
 * failure turned into one NovaApiError whose `retryable`/`retryAfterMs` tell the engine what to do next.
 * (Issue 18 moved it to Node's own http to save ~0.25 ms of CPU per request; issue 30 brought got back
 * for proxies and the stack the project was specified with. README, Design.)
 * Longer than 300 lines because the one owner of HTTP keeps its endpoints, its auth-scheme discovery and
 * its reply checks together.
 */
import { createTransport, type Transport } from './transport.js';
import { NovaApiError, kindForStatus, WRONG_AGENT, type ApiErrorKind } from './errors.js';
import { parseRetryAfter } from './retry-after.js';
import { printable } from '../printable.js';
import { holdsSecret, redactText, redactValue, secretForms } from './redact.js';
import type { Agent, AgentPage, AgentSummary, AuthScheme, CallPage } from './types.js';
import { keyId, type Credentials } from './credentials.js';
import { firstHeader, isAgent, isAgentPage, isCallPage, isObject, markRedacted, otherAgent, serverMessage } from './reply.js';

export { markRedacted, redactedFields } from './reply.js';

export interface NovaClientOptions {
  /** API base, e.g. `https://v2-nova-api.prod.czmx.in/api` (no trailing slash needed). */
  baseUrl: string;
  /** The key of every org (NOVA_API_KEY) unless `keys` says otherwise. Never logged or serialised. */
  apiKey?: string | undefined;
  /** One key per org (a --keys file, credentials.ts); `apiKey` is then their fallback. */
  keys?: Credentials;
  /**
   * `auto` (default): `X-API-Key` as the vendor's page documents, and on a 401 the same request once with
   * `Authorization: Bearer` (as the vendor's SDK sends), keeping per org whichever it accepted.
   */
  auth?: AuthMode;
  /** Whole-request timeout in ms. Default 30 000 (SPEC §5). */
  timeoutMs?: number;
  /** Upper bound of open sockets per host; keep-alive reuses them. Default 8 (the default concurrency). */
  maxSockets?: number;
  /** The longest reply read (bytes); a longer one fails as a network error. Default 4 MiB. */
  maxReplyBytes?: number;
  /** Called once per HTTP exchange, with its status or its transport failure (for metrics). */
  onResponse?: (info: ResponseInfo) => void;
  /** Called right before each request is written (tests count what was sent after a stop returned). */
  onSend?: (method: string) => void;
}

export interface ResponseInfo {
  method: string;
  /** The HTTP status, or the kind of transport failure when no response came. */
  status: number | 'network' | 'timeout' | 'aborted';
  durationMs: number;
}

export interface CallOptions {
  /** Aborts the request (graceful shutdown); the result is a NovaApiError of kind `aborted`. */
  signal?: AbortSignal;
}

export interface ListOptions extends CallOptions {
  /** Page size. Default 100. */
  size?: number;
  search?: string;
  type?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_SOCKETS = 8;
/**
 * An agent is a few KB (a long prompt tens of KB; a manifest cell is at most 1 MiB) and a page of 100
 * list rows a few KB: 4 MiB is far above both, and bounds a broken or hostile server's reply — with 16
 * requests in flight, 64 MiB at most (at 256 MiB a reply, 16 in flight could reach 4 GB, 8 with copies).
 */
export const DEFAULT_MAX_REPLY_BYTES = 4 * 2 ** 20;

/**
 * One path segment, percent-encoded. `.` and `..` are refused: a URL resolves them (and their
 * `%2e` spellings) as dot segments, so `agents/..` would silently address another resource.
 */
function seg(id: string, method: string): string {
  if (id === '' || /^(\.|%2e)+$/i.test(id)) {
    throw new NovaApiError({ kind: 'client', method, path: '(not sent)', serverMessage: `invalid id "${id}" in a URL path` });
  }
  return encodeURIComponent(id);
}

export type AuthMode = 'auto' | AuthScheme;


/** A single key for every org. */
function oneKey(key: string): Credentials {
  return { keyFor: () => key, all: () => [key], version: 0 };
}

export class NovaClient {
  readonly baseUrl: string;
  /** The base, parsed once: each request is sent to its host with its path in front. */
  readonly #base: URL;
  readonly #basePath: string;
  readonly #origin: string;
  readonly #transport: Transport;
  readonly #keys: Credentials;
  readonly #auth: AuthMode;
  /** Per org, the scheme the API accepted (auto), once it has answered anything but a 401. */
  readonly #schemes = new Map<string, AuthScheme>();
  readonly #keyIds = new Map<string, string>();
  /** Per key, the forms in which a reply could echo it (redact.ts); a request checks only its own key's. */
  readonly #forms = new Map<string, string[]>();
  readonly #onResponse: ((info: ResponseInfo) => void) | undefined;
  readonly #onSend: ((method: string) => void) | undefined;

  constructor(options: NovaClientOptions) {
    if (options.apiKey !== undefined && (options.apiKey === '' || /[\r\n\0]/.test(options.apiKey))) {
      // Checked here so that Node's own header validation never gets to build an error around it.
      throw new TypeError('Expected `apiKey` to be a non-empty string without line breaks');
    }
    if (options.apiKey === undefined && options.keys === undefined) throw new TypeError('Expected `apiKey` or `keys`');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#base = new URL(this.baseUrl);
    if (this.#base.protocol !== 'http:' && this.#base.protocol !== 'https:') throw new TypeError('Expected `baseUrl` to be an http or https URL');
    if (this.#base.search !== '' || this.#base.hash !== '') throw new TypeError('Expected `baseUrl` without a query or fragment');
    this.#basePath = this.#base.pathname.replace(/\/+$/, '');
    this.#origin = this.#base.origin;
    this.#keys = options.keys ?? oneKey(options.apiKey!);
    this.#auth = options.auth ?? 'auto';
    this.#onResponse = options.onResponse;
    this.#onSend = options.onSend;
    // Kept-alive sockets (or a proxy's tunnels), at most maxSockets; no redirects followed and no retries
    // made (transport.ts); `#timeout` bounds the whole exchange as SPEC §5 asks.
    this.#transport = createTransport(this.#base, options.maxSockets ?? DEFAULT_MAX_SOCKETS, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.#maxReplyBytes = options.maxReplyBytes ?? DEFAULT_MAX_REPLY_BYTES;
  }

  readonly #maxReplyBytes: number;

  async getAgent(orgId: string, agentId: string, options: CallOptions = {}): Promise<Agent> {
    return this.#request<Agent>(orgId, 'GET', `/org/${seg(orgId, 'GET')}/agents/${seg(agentId, 'GET')}`, undefined, options, isAgent, otherAgent(orgId, agentId));
  }

  /** PATCH exactly `body` (whole top-level fields). The response is the whole agent. */
  async patchAgent(orgId: string, agentId: string, body: Record<string, unknown>, options: CallOptions = {}): Promise<Agent> {
    const path = `/org/${seg(orgId, 'PATCH')}/agents/${seg(agentId, 'PATCH')}`;
    return this.#request<Agent>(orgId, 'PATCH', path, body, options, isAgent, otherAgent(orgId, agentId));
  }

  /** One page of an org's agents (pages start at 1). */
  async listAgentsPage(orgId: string, page: number, options: ListOptions = {}): Promise<AgentPage> {
    const query = new URLSearchParams({ page: String(page), size: String(options.size ?? 100) });
    if (options.search !== undefined) query.set('search', options.search);
    if (options.type !== undefined) query.set('type', options.type);
    return this.#request<AgentPage>(orgId, 'GET', `/org/${seg(orgId, 'GET')}/agents?${query}`, undefined, options, isAgentPage);
  }

  /** One page (100 rows) of an org's calls that started in [from, to) (SPEC §14, the calls gate). */
  async listCallsPage(orgId: string, interval: { from: number; to: number }, page: number, options: CallOptions = {}): Promise<CallPage> {
    const query = new URLSearchParams({ start_date: new Date(interval.from).toISOString(), end_date: new Date(interval.to).toISOString(), page: String(page), size: '100' });
    return this.#request<CallPage>(orgId, 'GET', `/org/${seg(orgId, 'GET')}/calls?${query}`, undefined, options, isCallPage);
  }

  /** Every agent of an org, page by page. */
  async *listAgents(orgId: string, options: ListOptions = {}): AsyncGenerator<AgentSummary> {
    for (let page = 1; ; page++) {
      const result = await this.listAgentsPage(orgId, page, options);
      yield* result.data;
      if (page >= result.meta.total_pages || result.data.length === 0) return;
    }
  }

  /** The id of the key this org's requests use (its schedule's name in Redis), or undefined without one. */
  keyIdFor(orgId: string): string | undefined {
    const key = this.#keys.keyFor(orgId);
    if (key === undefined) return undefined;
    let id = this.#keyIds.get(key);
    if (id === undefined) this.#keyIds.set(key, (id = keyId(key)));
    return id;
  }

  /** The scheme an org's requests go with: the one it accepted, else the first to try. */
  schemeFor(orgId: string): AuthScheme {
    return this.#schemes.get(orgId) ?? (this.#auth === 'bearer' ? 'bearer' : 'x-api-key');
  }

  /** Orgs whose scheme is known (the API answered them with something other than a 401). */
  knownSchemes(): Record<string, AuthScheme> {
    return Object.fromEntries(this.#schemes);
  }

  /** How many orgs' schemes are known: grows only, so a caller can tell cheaply when to look again. */
  get knownSchemeCount(): number {
    return this.#schemes.size;
  }

  /** The proxy requests go through (HTTPS_PROXY/HTTP_PROXY; credentials masked), if any. */
  get proxy(): string | undefined {
    return this.#transport.proxy;
  }

  /** Close kept-alive sockets. */
  close(): void {
    this.#transport.close();
  }

  async #request<T>(
    orgId: string,
    method: 'GET' | 'PATCH',
    path: string,
    body: Record<string, unknown> | undefined,
    options: CallOptions,
    check: (value: unknown) => value is T,
    mismatch?: (value: T) => string | undefined,
  ): Promise<T> {
    const fail = (kind: ApiErrorKind, extra: Partial<ConstructorParameters<typeof NovaApiError>[0]> = {}) =>
      new NovaApiError({ kind, method, path, ...extra });
    const key = this.#keys.keyFor(orgId);
    if (key === undefined) throw fail('auth', { serverMessage: `no API key for org ${printable(orgId)} (not in the keys file, and NOVA_API_KEY is not set)` });
    // Only the key this request carries can come back in its reply: its forms, not every org's.
    let forms = this.#forms.get(key);
    if (forms === undefined) {
      if (this.#forms.size > 10_000) this.#forms.clear();
      this.#forms.set(key, (forms = secretForms(key)));
    }
    const redact = (text: string) => this.#redact(text, forms);
    const send = async (scheme: AuthScheme) => {
      const started = performance.now();
      try {
        const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'nova-fleet', ...(scheme === 'bearer' ? { authorization: `Bearer ${key}` } : { 'x-api-key': key }) };
        const text = body !== undefined ? JSON.stringify(body) : undefined;
        if (text !== undefined) {
          headers['content-type'] = 'application/json';
          headers['content-length'] = String(Buffer.byteLength(text));
        }
        this.#onSend?.(method);
        const response = await this.#transport.exchange(this.#origin + this.#basePath + path, method, headers, text, { signal: options.signal, maxBytes: this.#maxReplyBytes });
        this.#onResponse?.({ method, status: response.statusCode, durationMs: performance.now() - started });
        return response;
      } catch (error) {
        const failure = this.#transportError(error, options.signal, fail, redact);
        this.#onResponse?.({ method, status: failure.kind as 'network' | 'timeout' | 'aborted', durationMs: performance.now() - started });
        throw failure;
      }
    };
    const scheme = this.schemeFor(orgId);
    let response = await send(scheme);
    if (response.statusCode === 401 && this.#auth === 'auto') {
      // auto: a 401 is asked once more with the other scheme — the one another request of this org
      // learned while this one was out (sent before it was known), else Bearer after X-API-Key.
      const learned = this.#schemes.get(orgId);
      const other = learned !== undefined ? (learned !== scheme ? learned : undefined) : scheme === 'x-api-key' ? 'bearer' : undefined;
      if (other !== undefined) {
        const second = await send(other);
        if (second.statusCode !== 401) {
          if (learned === undefined) this.#schemes.set(orgId, other);
          response = second;
        }
      }
    } else if (response.statusCode !== 401 && !this.#schemes.has(orgId)) this.#schemes.set(orgId, scheme);
    const status = response.statusCode;
    if (status < 200 || status >= 300) {
      throw fail(kindForStatus(status), {
        status,
        serverMessage: redact(serverMessage(response.body) ?? `HTTP ${status}`),
        retryAfterMs: parseRetryAfter(firstHeader(response.headers['retry-after'])),
      });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.body);
    } catch {
      throw fail('server', { status, serverMessage: 'response is not JSON', retryable: true });
    }
    if (!check(parsed)) throw fail('server', { status, serverMessage: 'response does not have the expected shape', retryable: true });
    // A reply about another agent (a proxy's cache, a server bug) is never taken as this agent's data:
    // it would become the before snapshot and its settings would be written into this agent.
    const wrong = mismatch?.(parsed);
    if (wrong !== undefined) throw fail('server', { status, serverMessage: redact(wrong), retryable: true, code: WRONG_AGENT });
    // A 2xx that echoes the key (a proxy reflecting headers, a field holding it) never carries it on
    // into snapshots, reports or exports: it is replaced, and the fields it was in are told.
    if (isObject(parsed) && holdsSecret(response.body, forms)) {
      markRedacted(parsed, redactValue(parsed, forms));
    }
    return parsed;
  }

  /** A transport error → NovaApiError, keeping only message and code (never the request's options). */
  #transportError(
    error: unknown,
    signal: AbortSignal | undefined,
    fail: (kind: ApiErrorKind, extra?: { code?: string; cause?: Error }) => NovaApiError,
    redact: (text: string) => string,
  ): NovaApiError {
    const code = (error as { code?: string } | null)?.code;
    const message = redact(error instanceof Error ? error.message : String(error));
    const cause = Object.assign(new Error(message), code ? { code } : {});
    if (signal?.aborted) return fail('aborted', { code: 'ABORT_ERR', cause });
    if (error instanceof Error && error.name === 'TimeoutError') return fail('timeout', { code: code ?? 'ETIMEDOUT', cause });
    return fail('network', { code: code ?? 'ERR_NETWORK', cause });
  }

  /**
   * Defence in depth: a server (or an OS error) that echoes the key must not carry it into our errors.
   * Every form of the key (redact.ts), then control characters made printable, then the length cut.
   */
  #redact(text: string, forms: readonly string[], max = 500): string {
    const clean = printable(redactText(text, forms));
    return clean.length > max ? `${clean.slice(0, max)}…` : clean;
  }
}
