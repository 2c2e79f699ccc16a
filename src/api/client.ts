/**
 * The Nova API client: the one owner of HTTP in nova-fleet. Built on got with its own retries off —
 * BullMQ's attempts are the single retry layer (STYLE habit 4) — and every failure turned into one
 * NovaApiError whose `retryable`/`retryAfterMs` tell the engine what to do next.
 */
import http from 'node:http';
import https from 'node:https';
import got, { type Got, RequestError } from 'got';
import { NovaApiError, kindForStatus, type ApiErrorKind } from './errors.js';
import { parseRetryAfter } from './retry-after.js';
import type { Agent, AgentPage, AgentSummary, AuthScheme } from './types.js';

export interface NovaClientOptions {
  /** API base, e.g. `https://v2-nova-api.prod.czmx.in/api` (no trailing slash needed). */
  baseUrl: string;
  /** Sent as `X-API-Key` (default) or `Authorization: Bearer`. Never logged or serialised. */
  apiKey: string;
  /** Default `x-api-key`, as the vendor's page documents; `bearer` as its generated SDK sends. */
  auth?: AuthScheme;
  /** Whole-request timeout in ms. Default 30 000 (SPEC §5). */
  timeoutMs?: number;
  /** Upper bound of open sockets per host; keep-alive reuses them. Default 8 (the default concurrency). */
  maxSockets?: number;
  /** Called once per HTTP exchange, with its status or its transport failure (for metrics). */
  onResponse?: (info: ResponseInfo) => void;
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
 * One path segment, percent-encoded. `.` and `..` are refused: a URL resolves them (and their
 * `%2e` spellings) as dot segments, so `agents/..` would silently address another resource.
 */
function seg(id: string, method: string): string {
  if (id === '' || /^(\.|%2e)+$/i.test(id)) {
    throw new NovaApiError({ kind: 'client', method, path: '(not sent)', serverMessage: `invalid id "${id}" in a URL path` });
  }
  return encodeURIComponent(id);
}

export class NovaClient {
  readonly baseUrl: string;
  readonly #got: Got;
  readonly #apiKey: string;
  readonly #agents: { http: http.Agent; https: https.Agent };
  readonly #onResponse: ((info: ResponseInfo) => void) | undefined;

  constructor(options: NovaClientOptions) {
    if (options.apiKey === '' || /[\r\n\0]/.test(options.apiKey)) {
      // Checked here so that Node's own header validation never gets to build an error around it.
      throw new TypeError('Expected `apiKey` to be a non-empty string without line breaks');
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.#onResponse = options.onResponse;
    const maxSockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
    this.#agents = {
      http: new http.Agent({ keepAlive: true, maxSockets }),
      https: new https.Agent({ keepAlive: true, maxSockets }),
    };
    const authHeader =
      (options.auth ?? 'x-api-key') === 'bearer'
        ? { authorization: `Bearer ${options.apiKey}` }
        : { 'x-api-key': options.apiKey };
    this.#got = got.extend({
      headers: { ...authHeader, accept: 'application/json', 'user-agent': 'nova-fleet' },
      agent: this.#agents,
      timeout: { request: options.timeoutMs ?? DEFAULT_TIMEOUT_MS },
      retry: { limit: 0 }, // BullMQ owns retries; got would otherwise retry GETs twice on its own.
      throwHttpErrors: false, // statuses are mapped below, so no got HTTPError (which holds headers) exists
      followRedirect: false,
      responseType: 'text',
    });
  }

  async getAgent(orgId: string, agentId: string, options: CallOptions = {}): Promise<Agent> {
    return this.#request<Agent>('GET', `/org/${seg(orgId, 'GET')}/agents/${seg(agentId, 'GET')}`, undefined, options, isAgent);
  }

  /** PATCH exactly `body` (whole top-level fields). The response is the whole agent. */
  async patchAgent(orgId: string, agentId: string, body: Record<string, unknown>, options: CallOptions = {}): Promise<Agent> {
    const path = `/org/${seg(orgId, 'PATCH')}/agents/${seg(agentId, 'PATCH')}`;
    return this.#request<Agent>('PATCH', path, body, options, isAgent);
  }

  /** One page of an org's agents (pages start at 1). */
  async listAgentsPage(orgId: string, page: number, options: ListOptions = {}): Promise<AgentPage> {
    const query = new URLSearchParams({ page: String(page), size: String(options.size ?? 100) });
    if (options.search !== undefined) query.set('search', options.search);
    if (options.type !== undefined) query.set('type', options.type);
    return this.#request<AgentPage>('GET', `/org/${seg(orgId, 'GET')}/agents?${query}`, undefined, options, isAgentPage);
  }

  /** Every agent of an org, page by page. */
  async *listAgents(orgId: string, options: ListOptions = {}): AsyncGenerator<AgentSummary> {
    for (let page = 1; ; page++) {
      const result = await this.listAgentsPage(orgId, page, options);
      yield* result.data;
      if (page >= result.meta.total_pages || result.data.length === 0) return;
    }
  }

  /** Close kept-alive sockets. */
  close(): void {
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  async #request<T>(
    method: 'GET' | 'PATCH',
    path: string,
    body: Record<string, unknown> | undefined,
    options: CallOptions,
    check: (value: unknown) => value is T,
  ): Promise<T> {
    const started = performance.now();
    const fail = (kind: ApiErrorKind, extra: Partial<ConstructorParameters<typeof NovaApiError>[0]> = {}) =>
      new NovaApiError({ kind, method, path, ...extra });
    let response;
    try {
      response = await this.#got(this.baseUrl + path, {
        method,
        ...(body !== undefined ? { json: body } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      const failure = this.#transportError(error, options.signal, fail);
      this.#onResponse?.({ method, status: failure.kind as 'network' | 'timeout' | 'aborted', durationMs: performance.now() - started });
      throw failure;
    }
    const status = response.statusCode;
    this.#onResponse?.({ method, status, durationMs: performance.now() - started });
    if (status < 200 || status >= 300) {
      throw fail(kindForStatus(status), {
        status,
        serverMessage: this.#redact(serverMessage(response.body) ?? (response.statusMessage || `HTTP ${status}`)),
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
    return parsed;
  }

  /** A got/Node transport error → NovaApiError, keeping only message and code (never got's options). */
  #transportError(
    error: unknown,
    signal: AbortSignal | undefined,
    fail: (kind: ApiErrorKind, extra?: { code?: string; cause?: Error }) => NovaApiError,
  ): NovaApiError {
    const code = error instanceof RequestError ? error.code : (error as { code?: string } | null)?.code;
    const message = this.#redact(error instanceof Error ? error.message : String(error));
    const cause = Object.assign(new Error(message), code ? { code } : {});
    if (signal?.aborted) return fail('aborted', { code: 'ABORT_ERR', cause });
    if (error instanceof Error && error.name === 'TimeoutError') return fail('timeout', { code: code ?? 'ETIMEDOUT', cause });
    return fail('network', { code: code ?? 'ERR_NETWORK', cause });
  }

  /** Defence in depth: a server (or an OS error) that echoes the key must not carry it into our errors. */
  #redact(text: string): string {
    return text.split(this.#apiKey).join('[redacted]');
  }
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The server's explanation from a JSON error body (`detail`, `message` or `error`), cut to a sane length. */
function serverMessage(body: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return body.trim() === '' ? undefined : body.trim().slice(0, 500);
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  for (const key of ['detail', 'message', 'error']) {
    const value = (parsed as Record<string, unknown>)[key];
    if (typeof value === 'string') return value.slice(0, 500);
    if (value !== undefined) return JSON.stringify(value).slice(0, 500);
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isAgent(value: unknown): value is Agent {
  return isObject(value) && typeof value.id === 'string';
}

function isAgentPage(value: unknown): value is AgentPage {
  return (
    isObject(value) &&
    Array.isArray(value.data) &&
    isObject(value.meta) &&
    typeof value.meta.total_pages === 'number'
  );
}
