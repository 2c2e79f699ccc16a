/** The mock Nova API's options, faults and what it tells tests (server.ts). */
import * as z from 'zod';
import type { Agent } from '../api/types.js';
import type { FleetOptions } from './fleet.js';

export const MockFaultsSchema = z.strictObject({
  /** Probability (0..1) that an API request answers 500, 502 or 503. */
  failRate: z.number().min(0).max(1).optional(),
  /** Probability that the connection is dropped before the request is applied. */
  dropBeforeRate: z.number().min(0).max(1).optional(),
  /** Probability that a PATCH is applied and then its connection dropped: the reply is lost. */
  dropAfterRate: z.number().min(0).max(1).optional(),
  /** Probability of a slow reply (`slowMs` extra delay). */
  slowRate: z.number().min(0).max(1).optional(),
  /** Extra delay of a slow reply in ms. Default 2000. */
  slowMs: z.number().int().min(0).optional(),
  /** Fixed delay before every API reply in ms. Default 0. */
  latencyMs: z.number().int().min(0).optional(),
  /** Agent id → HTTP status it always answers (e.g. 422), for GET and PATCH alike. */
  agentStatus: z.record(z.string(), z.number().int().min(100).max(599)).optional(),
  /**
   * Agent id → HTTP status its PATCHes answer while its GETs succeed: the failure a real API gives at
   * write time only (a read-only field, a server-side rule, a write outage).
   */
  patchStatus: z.record(z.string(), z.number().int().min(100).max(599)).optional(),
  /**
   * Agent id → HTTP status its PATCHes answer *after* applying the change: a write that landed while the
   * client hears a failure (a gateway timeout in front of the API) — recorded failed, yet changed.
   */
  patchAppliedStatus: z.record(z.string(), z.number().int().min(100).max(599)).optional(),
  /** Requests per second allowed (token bucket); 0 = unlimited. */
  rateLimit: z.number().min(0).optional(),
  /** Bucket capacity (burst). Default: max(1, rateLimit), i.e. one second's worth. */
  burst: z.number().min(1).optional(),
  /** How 429 says when to come back: delay-seconds (default) or an HTTP date. */
  retryAfterFormat: z.enum(['seconds', 'date']).optional(),
});
export type MockFaults = z.infer<typeof MockFaultsSchema>;

export interface MockApiOptions extends FleetOptions, MockFaults {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind. Default 127.0.0.1. */
  host?: string;
  /** The only key accepted (as X-API-Key or Bearer). Default `mock-key`. */
  apiKey?: string;
  /**
   * Every org its own key (SPEC §8, as the real API's keys belong to one org): `<apiKey>-<n>` for the
   * n-th org (1-based). Another org's key answers 403, an unknown one 401. `keys` lists them.
   */
  orgKeys?: boolean;
  /** Orgs whose key may read but not write: their PATCHes answer 403. */
  readOnlyOrgs?: readonly string[];
  /** The header the mock accepts. Default `both`. */
  authScheme?: 'x-api-key' | 'bearer' | 'both';
  /** Simulated calls per minute per agent (SPEC §14, calls.ts); 0 (default): the calls list is empty. */
  callsPerMin?: number;
  /** A call completes less often (`badRate`) while its agent's config holds this text. */
  badMarker?: string;
  /** Completion probability of a call of a good agent (0.9) and of a bad one (0.6). */
  goodRate?: number;
  badRate?: number;
  /** How long each simulated call lasts, ms. Default 2000. */
  callMs?: number;
  /** Keep a log of every API request with its time and status. Default false. */
  recordRequests?: boolean;
  /**
   * Tests only (in-process): awaited as each API request arrives, before anything else is decided, so a
   * test can hold one request until another has been answered (the interleavings of SPEC's races).
   * A returned reply is sent instead of the mock's own (a hostile or broken server).
   */
  intercept?: (request: InterceptedRequest) => void | MockReply | Promise<void | MockReply>;
}

/** What `intercept` is told of a request. */
export interface InterceptedRequest {
  method: string;
  orgId: string;
  /** Undefined for the list endpoints. */
  agentId: string | undefined;
  /** What the request reads or writes: one agent, the agents' list, or the calls' list. */
  resource: 'agent' | 'list' | 'calls';
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** 1 for the first API request this mock received, and so on. */
  n: number;
}

/** A reply `intercept` sends in place of the mock's: a status and a JSON body (or raw text). */
export interface MockReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface RequestRecord {
  /** Epoch ms when the request arrived. */
  t: number;
  method: string;
  orgId: string | undefined;
  agentId: string | undefined;
  status: number | 'dropped';
}

export interface MockStats {
  total: number;
  byMethod: Record<string, number>;
  /** Status → count; connections dropped on purpose count as `dropped`. */
  byStatus: Record<string, number>;
  /** `METHOD STATUS` → count, e.g. `PATCH 200`. */
  byMethodStatus: Record<string, number>;
  /** PATCHes that passed validation and were stored (including those whose reply was then dropped). */
  patchesApplied: number;
  /** Applied PATCHes that changed at least one value. */
  changes: number;
  /** The most API requests this mock was answering at once (each counted until its reply is sent). */
  peakInFlight: number;
  /** `org_id/agent_id` → PATCHes applied to that agent. */
  appliedPerAgent?: Record<string, number>;
}

export interface MockApi {
  /** Base URL to use as NOVA_API_URL, e.g. `http://127.0.0.1:4010/api`. */
  url: string;
  port: number;
  apiKey: string;
  orgIds: string[];
  /** The key of each org (with `orgKeys`; otherwise every org's is `apiKey`). */
  keys: Record<string, string>;
  /** A deep copy of one agent as the server holds it now. */
  agent(orgId: string, agentId: string): Agent | undefined;
  /** Every agent, as `{org_id, agent_id}`, in creation order. */
  agentIds(): { org_id: string; agent_id: string }[];
  stats(options?: { perAgent?: boolean }): MockStats;
  /** The request log (empty unless `recordRequests`). */
  requests(): readonly RequestRecord[];
  configure(changes: MockFaults): void;
  resetStats(): void;
  close(): Promise<void>;
}
