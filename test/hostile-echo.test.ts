/**
 * The key leaks through echoes (issue 13): a server that reflects the key at the 500-character cut,
 * percent-encoded, base64-encoded inside a Basic header, or inside a 2xx agent — and one that prints
 * terminal escapes. Each form is caught, before any cut, and a 2xx echo never reaches a snapshot.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { NovaClient, redactedFields } from '../src/api/client.js';
import { NovaApiError } from '../src/api/errors.js';
import { secretForms } from '../src/api/redact.js';
import { rejection } from './helpers/mock.js';

const KEY = 'sk+live/ECHO=0123456789abcdefXYZ';
const replies: Record<string, { status: number; body: string }> = {
  cut: { status: 400, body: JSON.stringify({ detail: `${'x'.repeat(495)}${KEY} trailing` }) },
  percent: { status: 400, body: JSON.stringify({ detail: `bad callback https://example.test/cb?key=${encodeURIComponent(KEY)}` }) },
  percentLower: { status: 400, body: JSON.stringify({ detail: `bad callback ?key=${encodeURIComponent(KEY).toLowerCase()}` }) },
  basic: { status: 401, body: JSON.stringify({ detail: `refused Authorization: Basic ${Buffer.from(`user:${KEY}`).toString('base64')}` }) },
  escapes: { status: 422, body: JSON.stringify({ detail: 'bad \u001b[31mred\u001b[0m value\u0007' }) },
  agent: { status: 200, body: JSON.stringify({ id: 'agent', organization_id: 'o1', name: 'Echo', precall_webhook: { method: 'POST', url: 'https://x.test', headers: { 'x-api-key': KEY } }, prompt_template: 'hello' }) },
};
const server = http.createServer((req, res) => {
  const reply = replies[req.url!.split('/').at(-1)!]!;
  res.writeHead(reply.status, { 'content-type': 'application/json' });
  res.end(reply.body);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const client = new NovaClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, apiKey: KEY });
afterAll(async () => {
  client.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** No form of the key, nor any 6-character piece of it, in the message. */
function expectClean(text: string) {
  for (const form of secretForms(KEY)) expect(text).not.toContain(form);
  for (let i = 0; i + 6 <= KEY.length; i++) expect(text).not.toContain(KEY.slice(i, i + 6));
}

describe('server echoes of the key', () => {
  for (const name of ['cut', 'percent', 'percentLower', 'basic']) {
    it(`${name}: redacted before the message is cut`, async () => {
      const error = await rejection<NovaApiError>(client.getAgent('o1', name));
      expect(error).toBeInstanceOf(NovaApiError);
      expectClean(error.message);
      // (At the cut, what survives is the start of the placeholder, never of the key.)
      expect(error.message).toContain(name === 'cut' ? '[reda' : '[redacted]');
    });
  }

  it('terminal escapes in a server message are shown, not sent to the terminal', async () => {
    const error = await rejection<NovaApiError>(client.getAgent('o1', 'escapes'));
    expect(error.message).toContain('bad \\x1b[31mred\\x1b[0m value\\x07');
    expect(error.message).not.toMatch(/[\u0000-\u0008\u001b]/);
  });

  it('a 2xx agent that echoes the key comes back with [redacted] in its place, and the field named', async () => {
    const agent = await client.getAgent('o1', 'agent');
    expectClean(JSON.stringify(agent));
    expect((agent.precall_webhook as { headers: Record<string, string> }).headers['x-api-key']).toBe('[redacted]');
    expect(redactedFields(agent)).toEqual(['precall_webhook']);
    expect(agent.prompt_template).toBe('hello');
  });
});
