/** The mock's routing and body reading: which route a path names, and a body bounded in size. */
import type http from 'node:http';
import type { MockStats } from './types.js';

const MAX_BODY_BYTES = 5 * 1024 * 1024;

export type Route =
  | { kind: 'agent'; orgId: string; agentId: string }
  | { kind: 'list'; orgId: string }
  | { kind: 'calls'; orgId: string }
  | { kind: 'control'; name: string }
  | { kind: 'none' };

export function route(pathname: string): Route {
  const path = pathname.startsWith('/api/') ? pathname.slice(4) : pathname;
  const control = /^\/__mock\/([a-z]+)$/.exec(path);
  if (control) return { kind: 'control', name: control[1]! };
  const calls = /^\/org\/([^/]+)\/calls\/?$/.exec(path);
  if (calls) {
    try {
      return { kind: 'calls', orgId: decodeURIComponent(calls[1]!) };
    } catch {
      return { kind: 'none' };
    }
  }
  const match = /^\/org\/([^/]+)\/agents(?:\/([^/]+))?\/?$/.exec(path);
  if (!match) return { kind: 'none' };
  try {
    const orgId = decodeURIComponent(match[1]!);
    return match[2] === undefined
      ? { kind: 'list', orgId }
      : { kind: 'agent', orgId, agentId: decodeURIComponent(match[2]) };
  } catch {
    return { kind: 'none' }; // malformed percent-encoding
  }
}

/** A list's `page` (from 1) and `size` (1–100, default 20), or what is wrong with them. */
export function pageQuery(query: URLSearchParams): { page: number; size: number } | string {
  const page = Number(query.get('page') ?? '1');
  const size = Number(query.get('size') ?? '20');
  if (!Number.isInteger(page) || page < 1) return 'page: must be an integer from 1';
  if (!Number.isInteger(size) || size < 1 || size > 100) return 'size: must be an integer from 1 to 100';
  return { page, size };
}

export class BodyTooLarge extends Error {}

export async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function emptyStats(): MockStats {
  return { total: 0, byMethod: {}, byStatus: {}, byMethodStatus: {}, patchesApplied: 0, changes: 0, peakInFlight: 0 };
}
