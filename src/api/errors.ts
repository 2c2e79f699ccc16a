/**
 * One typed error for every way a Nova API call can fail. The error itself tells the engine what to
 * do next (`retryable`, `retryAfterMs`), in the manner of inngest's RetryAfterError.
 *
 * Invariant: the API key is never inside one — not in the message, not in `cause`, not in anything
 * serialised from it. got's own errors carry the request options (headers included), so they are
 * never kept: `cause` is a fresh Error holding only got's message and code.
 */

export type ApiErrorKind =
  | 'network' // connection refused/reset/dropped, DNS: the request may or may not have reached the server
  | 'timeout' // no complete response within the request timeout (or a 408 from the server)
  | 'rate_limited' // 429
  | 'server' // 500, 502, 503, 504 (retryable), other 5xx, or a 2xx whose body is not an agent
  | 'client' // 400, 409, 422 and other 4xx: the request itself is wrong
  | 'auth' // 401, 403: a bad or unauthorised key
  | 'not_found' // 404: no such agent (or org)
  | 'aborted'; // cancelled by our own AbortSignal (shutdown); the job is retried later

/** Statuses SPEC §5 names as retryable. Every other 4xx/5xx fails the agent at once. */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

export interface ApiErrorInit {
  kind: ApiErrorKind;
  method: string;
  /** Path relative to the API base (`/org/o1/agents/a1`): identifies the call, carries no secret. */
  path: string;
  status?: number;
  /** The server's own explanation (`detail` / `message` / `error` of its JSON body), redacted. */
  serverMessage?: string;
  retryAfterMs?: number;
  /** Low-level code such as ECONNRESET or ETIMEDOUT. */
  code?: string;
  cause?: Error;
  /**
   * Overrides the status-derived rule; used for a 2xx whose body is not what was asked for (a proxy's
   * maintenance page): worth a retry, since the job re-reads the agent before acting again.
   */
  retryable?: boolean;
}

export class NovaApiError extends Error {
  override readonly name = 'NovaApiError';
  readonly kind: ApiErrorKind;
  readonly method: string;
  readonly path: string;
  readonly status: number | undefined;
  readonly serverMessage: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly code: string | undefined;
  readonly retryable: boolean;

  constructor(init: ApiErrorInit) {
    super(describe(init), init.cause ? { cause: init.cause } : undefined);
    this.kind = init.kind;
    this.method = init.method;
    this.path = init.path;
    this.status = init.status;
    this.serverMessage = init.serverMessage;
    this.retryAfterMs = init.retryAfterMs;
    this.code = init.code;
    this.retryable = init.retryable ?? isRetryable(init.kind, init.status);
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      kind: this.kind,
      method: this.method,
      path: this.path,
      status: this.status,
      code: this.code,
      retryable: this.retryable,
      retryAfterMs: this.retryAfterMs,
      message: this.message,
    };
  }
}

function isRetryable(kind: ApiErrorKind, status: number | undefined): boolean {
  if (status !== undefined) return RETRYABLE_STATUSES.has(status);
  return kind === 'network' || kind === 'timeout' || kind === 'aborted' || kind === 'server';
}

function describe(init: ApiErrorInit): string {
  const what = `${init.method} ${init.path}`;
  const status = init.status !== undefined ? ` ${init.status}` : '';
  const reason = init.serverMessage ?? init.code ?? init.kind;
  return `${what}:${status} ${reason}`.replace(/:\s+/, ': ');
}

/** Map an HTTP status to the error kind. Only called for non-2xx statuses. */
export function kindForStatus(status: number): ApiErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  if (status === 408) return 'timeout';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server';
  return 'client';
}

/** Consecutive 429s one request may meet (each a wait, not an attempt) before it fails like any retryable error. */
export const MAX_RATE_LIMIT_WAITS = 30;

/** Errors that say nothing about the agent and everything about the API: unreachable, timing out, 5xx. */
export function looksDown(error: NovaApiError): boolean {
  return error.retryable && error.code !== WRONG_AGENT && (error.kind === 'network' || error.kind === 'timeout' || error.kind === 'server');
}

/**
 * The code of a reply about another agent than the one asked for: the API answered (it is not down),
 * wrongly — retried as a server error, each try an attempt.
 */
export const WRONG_AGENT = 'WRONG_AGENT';
