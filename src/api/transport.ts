/**
 * One HTTP exchange on Node's own http/https modules: the request sent on a kept-alive socket of the
 * client's agent, the whole reply read. No redirects (Node's http never follows one), no retries; the
 * caller's `signal` ends the exchange (the client's whole-exchange timeout and its callers' aborts).
 */
import http from 'node:http';
import https from 'node:https';

/** A reply as read off the wire: its status, headers and whole body. */
export interface RawReply {
  statusCode: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * Rejects with the transport's error (or the abort's, with `signal`'s reason as its cause). A reply
 * longer than `maxBytes` is not read further: its connection is closed and the exchange fails (an
 * endless or absurd body from a broken or hostile server must not fill the worker's memory).
 */
export function exchange(agent: http.Agent, base: URL, path: string, method: string, headers: Record<string, string>, body: string | undefined, signal: AbortSignal, maxBytes: number): Promise<RawReply> {
  const send = base.protocol === 'https:' ? https.request : http.request;
  return new Promise<RawReply>((resolve, reject) => {
    const request = send({ agent, protocol: base.protocol, hostname: base.hostname, port: base.port, path, method, headers, signal }, (response) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > maxBytes) request.destroy(Object.assign(new Error(`the reply passed ${maxBytes} bytes; not read further`), { code: 'ERR_REPLY_TOO_LARGE' }));
        else chunks.push(chunk);
      });
      // A reply cut short (the connection lost mid-body) errors here: a transport failure, not a short body.
      response.on('error', reject);
      response.on('end', () => resolve({ statusCode: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    request.on('error', reject);
    request.end(body);
  });
}
