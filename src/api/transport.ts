/**
 * One HTTP exchange, on got (SPEC §17: the package the project was specified with): the request sent on
 * a kept-alive socket of the client's agent — or through the proxy HTTPS_PROXY/HTTP_PROXY name, unless
 * NO_PROXY exempts the API's host — and the whole reply read as text. got's own retries are off
 * (BullMQ's attempts are the one retry layer), redirects are not followed, HTTP errors are replies (the
 * client reads their status); the whole exchange has one time limit and the caller's `signal` ends it.
 */
import http from 'node:http';
import https from 'node:https';
import got, { type Got } from 'got';
import { HttpProxyAgent, HttpsProxyAgent } from 'hpagent';
import { getProxyForUrl } from 'proxy-from-env';

/** A reply as read off the wire: its status, headers and whole body. */
export interface RawReply {
  statusCode: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** How an exchange may end early: the whole exchange's time limit, and the caller's abort. */
export interface ExchangeLimits {
  /** Aborting it ends the exchange at once. */
  signal: AbortSignal | undefined;
  /** A reply longer than this is not read further (see exchange). */
  maxBytes: number;
}

export interface Transport {
  exchange(url: string, method: string, headers: Record<string, string>, body: string | undefined, limits: ExchangeLimits): Promise<RawReply>;
  /** The proxy requests go through (credentials masked), if any: said once by the commands that send. */
  readonly proxy: string | undefined;
  close(): void;
}

/** A proxy URL as it may be shown: its user and password masked. */
function shownProxy(proxy: URL): string {
  return `${proxy.protocol}//${proxy.username || proxy.password ? '****@' : ''}${proxy.host}`;
}

/**
 * The agent of every exchange to `base`: kept-alive sockets, at most `maxSockets` — a proxy's tunnels
 * (CONNECT, for http and https APIs alike: the proxy resolves the host) when the environment names one.
 */
function agentFor(base: URL, maxSockets: number): { agent: http.Agent; proxy?: URL } {
  const options = { keepAlive: true, maxSockets };
  // HTTPS_PROXY/HTTP_PROXY/ALL_PROXY and NO_PROXY, either case, read by proxy-from-env as curl reads them.
  const named = getProxyForUrl(base.href);
  if (!named) return { agent: base.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options) };
  let proxy: URL;
  try {
    proxy = new URL(named);
  } catch {
    throw new TypeError(`the proxy for ${base.protocol}// requests is not a URL (HTTPS_PROXY/HTTP_PROXY): "${named.slice(0, 100)}"`);
  }
  if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:') throw new TypeError(`the proxy ${shownProxy(proxy)} is neither http:// nor https://`);
  return { agent: base.protocol === 'https:' ? new HttpsProxyAgent({ ...options, proxy }) : new HttpProxyAgent({ ...options, proxy }), proxy };
}

/**
 * How got's request reaches Node's http: the same call, its options without the ~25 keys got sets to
 * undefined (TLS, DNS, cache…). With them, Node's ClientRequest and its agent copy and look through an
 * object too large for the fast path: ~15 µs a request (issue 30), for keys that say nothing.
 */
function slimRequest(url: URL, options: http.RequestOptions, callback?: (response: http.IncomingMessage) => void): http.ClientRequest {
  const slim: Record<string, unknown> = {};
  for (const key in options) if ((options as Record<string, unknown>)[key] !== undefined) slim[key] = (options as Record<string, unknown>)[key];
  return (url.protocol === 'https:' ? https : http).request(url, slim, callback);
}

export function createTransport(base: URL, maxSockets: number, timeoutMs: number): Transport {
  const { agent, proxy } = agentFor(base, maxSockets);
  // The options every exchange shares, merged once here rather than per request.
  const client: Got = got.extend({
    agent: { http: agent, https: agent as https.Agent },
    retry: { limit: 0 },
    followRedirect: false,
    throwHttpErrors: false,
    // No compressed replies: the size cap counts the bytes that arrive, and a small gzip can unpack to GBs.
    decompress: false,
    responseType: 'text',
    http2: false,
    cache: false,
    mutableDefaults: true,
    request: slimRequest,
  });
  // got spreads its HTTP-cache options into the options of every Node request it makes; with their four
  // keys (all unset) that object is built the slow way — 28 µs a request, against 2.4 µs when there are
  // none (issue 30: most of got's cost over Node's http). No cache is used (`cache: false`): none needed.
  client.defaults.options.cacheOptions = {};
  return {
    proxy: proxy ? shownProxy(proxy) : undefined,
    exchange(url, method, headers, body, limits) {
      if (limits.signal?.aborted) return Promise.reject(aborted(limits.signal));
      // got's stream: the request without the promise layer over it (~15% of got's cost per request).
      const stream = client.stream(url, { method: method as 'GET', headers, ...(body !== undefined ? { body } : {}) });
      return new Promise<RawReply>((resolve, reject) => {
        let response: http.IncomingMessage | undefined;
        const chunks: Buffer[] = [];
        let bytes = 0;
        // The caller's signal is listened to here, not handed to got: got leaves its listener on the
        // signal after the request ends, and a worker's shutdown signal serves every request it sends.
        const signal = limits.signal;
        const onAbort = () => stream.destroy(aborted(signal!));
        signal?.addEventListener('abort', onAbort, { once: true });
        // The whole exchange's limit: one timer here rather than got's per-phase timers and the listeners
        // they put on the request and its socket (~10 µs a request).
        let timedOut: Error | undefined;
        const timer = setTimeout(() => {
          timedOut = Object.assign(new Error(`timed out after ${timeoutMs} ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' });
          stream.destroy(timedOut);
        }, timeoutMs);
        const settle = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        stream.once('response', (reply: http.IncomingMessage) => (response = reply));
        stream.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          // An endless or absurd body from a broken or hostile server must not fill the worker's memory.
          if (bytes > limits.maxBytes) stream.destroy(Object.assign(new Error(`the reply passed ${limits.maxBytes} bytes; not read further`), { code: 'ERR_REPLY_TOO_LARGE' }));
          else chunks.push(chunk);
        });
        stream.once('end', () => {
          settle();
          resolve({ statusCode: response?.statusCode ?? 0, headers: response?.headers ?? {}, body: Buffer.concat(chunks).toString('utf8') });
        });
        stream.once('error', (error: Error) => {
          settle();
          // got wraps what a stream was destroyed with: the time limit is said as itself.
          reject(timedOut ?? error);
        });
      });
    },
    close() {
      agent.destroy();
    },
  };
}

/** The error an aborted exchange rejects with (as Node's own for a request given a signal). */
function aborted(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR', cause: signal.reason });
}
