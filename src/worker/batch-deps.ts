/**
 * What a batch's jobs need from this process (ProcessorDeps): its rate limiter, a briefly cached status,
 * the schedule judged on the Redis clock, the outage clock, the auth-halt rule, and the stored patches
 * and files, cached. One per batch a worker pool serves; `update` hands it newer metadata each poll.
 */
import type { NovaClient } from '../api/client.js';
import type { NovaApiError } from '../api/errors.js';
import { halt } from '../batch/halt.js';
import type { Metrics } from '../metrics.js';
import type { RowPatch } from '../patch/types.js';
import type { BatchStore } from '../store/batch-store.js';
import type { BatchStatus } from '../batch/lifecycle.js';
import { DEFAULT_OUTAGE_HALT_MS, type BatchMeta } from '../batch/records.js';
import { cutByDeadline } from '../controller/controller.js';
import { pauseQueueWhile, wakeJobs } from '../store/job-queue.js';
import type { AgentJobData } from '../batch/job.js';
import type { ProcessorDeps } from './job-ports.js';
import { abortableSleep, KEY_RATE_WINDOW_MS, RateLimiter, RECOVERY_MS } from './rate-limiter.js';
import { RequestTally } from './request-tally.js';
import { FreshRows } from './fresh-rows.js';
import { DEFAULT_FRESHNESS_MS, type RequestKind } from '../batch/records.js';
import { changedStatus } from '../batch/restore-plan.js';
import { AUTH_FAILURES_TO_HALT, haltIfOnlyBlockedLeft } from './org-blocks.js';
import { scheduleState } from '../batch/window.js';
import { atMostEvery, haltRedisFull } from './redis-full.js';
import { Stopped, Unrecoverable } from './job-signals.js';
import type { Journal } from '../journal/journal.js';
import { journaling } from '../journal/journaling-store.js';

export { AUTH_FAILURES_TO_HALT } from './org-blocks.js';

/** While an outage is suspected, each failure that says so keeps the batch's requests back this long. */
export const OUTAGE_QUIET_MS = 1000;

export interface BatchDepsInput {
  store: BatchStore;
  /** The same store on a connection for the gate's fresh status reads only (default: `store`). */
  gate?: BatchStore;
  meta: BatchMeta;
  /** For a rollback: the batch it undoes (undefined if pruned). */
  origin: BatchMeta | undefined;
  client: NovaClient;
  /** The pool's status feed version (ProcessorDeps.statusVersion). */
  statusVersion?: () => number | undefined;
  /** The pool's limit of in-flight requests (ProcessorDeps.inFlight). */
  inFlight?: ProcessorDeps['inFlight'];
  /** Aborted when the pool stops taking work. */
  stop: AbortSignal;
  /** Redis clock minus this machine's, as of the latest poll. */
  clockOffset: () => number;
  metrics?: Metrics;
  /** The local journal of originals this process appends to (journal.ts), if any. */
  journal?: Journal;
}

export function batchDeps(input: BatchDepsInput): { deps: ProcessorDeps; limiter: RateLimiter; requests: RequestTally; latest: () => BatchMeta; update: (meta: BatchMeta) => void } {
  const { store, meta, origin, metrics } = input;
  const batchId = meta.id;
    let latest = meta;
    const limiter = new RateLimiter(
      store,
      batchId,
      () => latest.options.rate,
      undefined,
      {
        waited: (ms) => {
          metrics?.rateWaits.inc({ batch: batchId });
          metrics?.rateWaitSeconds.inc({ batch: batchId }, ms / 1000);
        },
        limited: () => metrics?.rateLimited.inc({ batch: batchId }),
      },
      input.statusVersion,
    );
    const requests = new RequestTally((counts) => store.addRequests(batchId, counts), (kind) => metrics?.batchRequests.inc({ batch: batchId, kind }));
    // An applied plan's list rows (SPEC §15): each page within the batch's and its key's budget.
    const fresh = new FreshRows(
      async (orgId, page) => {
        await limiter.acquire(undefined, input.stop, input.client.keyIdFor(orgId));
        requests.count('list');
        return input.client.listAgentsPage(orgId, page, { size: 100, signal: input.stop });
      },
      () => latest.options.freshnessMs ?? DEFAULT_FRESHNESS_MS,
    );
    let cached: { status: BatchStatus; at: number } | undefined;
    /** After a refused key, every request reads the status fresh: the halt must stop the next one. */
    let authTrouble = false;
    /** This process met an API that looked down since it last recorded a success. */
    let apiTrouble = false;
    let reachableMarked = 0;
    const batchStatus = async (fresh = false): Promise<BatchStatus> => {
      if (fresh || authTrouble || !cached || Date.now() - cached.at > 250) {
        // A batch gone from Redis (pruned) is treated as cancelled: nothing more is sent for it.
        cached = { status: (await (input.gate ?? store).batchStatus(batchId)) ?? 'cancelled', at: Date.now() };
      }
      return cached.status;
    };
    /** Orgs this process saw blocked (the poll's metadata says so for the others' blocks). */
    const blocked = new Set<string>();
    const schemes = new Map<string, string>();
    const patches = new Map<string, RowPatch>();
    const files = new Map<string, string>();
    // The journal beside Redis (a second home for every original) when this process keeps one.
    const journaled = input.journal ? journaling(store, input.journal, () => latest) : store;
    const deps = {
      // A rollback whose origin was pruned finds no record of any agent: it changes nothing.
      ...(meta.rollbackOf ? { rollback: { of: meta.rollbackOf, changed: origin ? changedStatus(origin) : ('applied' as const), force: meta.force ?? false, origin: originLoaders(store, meta.rollbackOf) } } : {}),
      store: journaled,
      client: input.client,
      keyId: (orgId: string) => input.client.keyIdFor(orgId),
      batchId,
      schedule: ((fresh?: true) => {
        if (!fresh) return scheduleState(latest, Date.now() + input.clockOffset());
        return store.getBatch(batchId).then((meta) => scheduleState((latest = meta ?? latest), Date.now() + input.clockOffset()));
      }) as ProcessorDeps['schedule'] & {},
      ...(input.inFlight ? { inFlight: input.inFlight } : {}),
      ...(input.statusVersion ? { statusVersion: input.statusVersion } : {}),
      stop: input.stop,
      wake: (agentKey: string, batchIds: string[]) => wakeJobs(store, agentKey, batchIds),
      force: () => latest.force === true,
      onDeadline: () => cutByDeadline(store, batchId, latest.deadline ?? Date.now(), Date.now() + input.clockOffset()),
      options: meta.options,
      limiter,
      batchStatus,
      onRequest: (kind: RequestKind) => requests.count(kind),
      ...(meta.options.writeRate
        ? {
            writeSlot: async (orgId: string) => {
              const waitMs = await store.reserveWriteSlot(input.client.keyIdFor(orgId) ?? 'default', latest.options.writeRate ?? meta.options.writeRate!, RECOVERY_MS, KEY_RATE_WINDOW_MS);
              if (waitMs > 0) await abortableSleep(waitMs, input.stop).catch(() => {
                throw new Stopped();
              });
            },
          }
        : {}),
      // `--freshness 0`: every agent is read with a GET, as before SPEC §15.
      ...(meta.options.planned && (meta.options.freshnessMs ?? DEFAULT_FRESHNESS_MS) > 0
        ? {
            listed: (orgId: string, agentId: string) => fresh.updatedAt(orgId, agentId),
            plannedBefore: (key: string) => store.plannedBefore(batchId, key),
          }
        : {}),
      onApiReachable: () => {
        // The scheme each org's key was accepted with, written once per org (status and report show it);
        // looked at only when the client learned a new org's (not on every request).
        if (input.client.knownSchemeCount !== schemes.size) {
          for (const [org, scheme] of Object.entries(input.client.knownSchemes())) {
            if (schemes.get(org) === scheme) continue;
            schemes.set(org, scheme);
            store.noteAuthScheme(batchId, org, scheme).catch(() => {});
          }
        }
        // At most one write a second while all is well; at once after this process met trouble.
        const now = Date.now();
        if (!apiTrouble && now - reachableMarked < 1000) return;
        apiTrouble = false;
        reachableMarked = now;
        store.noteApiReachable(batchId).catch(() => {});
      },
      onApiTrouble: async (error: NovaApiError) => {
        apiTrouble = true;
        const outageMs = latest.options.outageHaltMs ?? DEFAULT_OUTAGE_HALT_MS;
        // "Lately": a few seconds, or three of the batch's request intervals at a slow --rate.
        const recentMs = Math.max(5000, 3000 / latest.options.rate);
        const reason = halt('api_unreachable', `no request succeeded for ${Math.round(outageMs / 1000)} s (last: ${error.message.slice(0, 200)})`);
        const state = await store.noteApiTrouble(batchId, outageMs, recentMs, reason);
        if (state === 'halted') await pauseQueueWhile(store, batchId, 'halted');
        // An outage suspected: the batch backs off as for a 429 (its rate halved, down to a tenth, and
        // nobody starts a request for a second) instead of probing a down API at its full --rate.
        if (state !== 'reachable') await limiter.penalize(OUTAGE_QUIET_MS);
        return state;
      },
      onAuthRefused: async (orgId: string, error: NovaApiError) => {
        authTrouble = true;
        const message = `${error.status ?? 'no key'}: ${error.serverMessage ?? error.message}`.slice(0, 200);
        if (!(await store.noteAuthRefusal(batchId, orgId, message, AUTH_FAILURES_TO_HALT))) return false;
        blocked.add(orgId);
        await haltIfOnlyBlockedLeft(store, batchId);
        return true;
      },
      // The halt stops the others' requests at their gate (the status is read fresh after it).
      onRedisFull: atMostEvery(5000, async () => {
        if (await haltRedisFull(store, batchId)) cached = undefined;
      }),
      orgBlocked: (orgId: string) => blocked.has(orgId) || latest.blockedOrgs?.[orgId] !== undefined,
      patch: async (digest: string) => {
        let patch = patches.get(digest);
        if (!patch) {
          const json = await store.loadPatch(batchId, digest);
          if (json === undefined) throw new Unrecoverable(`patch ${digest} of batch ${batchId} is missing from Redis`);
          patch = JSON.parse(json) as RowPatch;
          if (patches.size > 1000) patches.clear();
          patches.set(digest, patch);
        }
        return patch;
      },
      file: async (file: string) => {
        let text = files.get(file);
        if (text === undefined) {
          text = await store.loadFile(batchId, file);
          if (text === undefined) throw new Unrecoverable(`file ${file} of batch ${batchId} is missing from Redis`);
          files.set(file, text);
        }
        return text;
      },
    };
  return {
    deps,
    limiter,
    requests,
    latest: () => latest,
    update: (next) => {
      latest = next;
      blocked.clear(); // the poll's metadata is the truth now (a resume lifts blocks)
    },
  };
}

/** A rollback's view of its origin's kept jobs, patches and files (ProcessorDeps.rollback.origin). */
function originLoaders(store: BatchStore, originId: string) {
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Unrecoverable(`${what} of batch ${originId} is missing from Redis`);
    return value;
  };
  return {
    job: (key: string) => store.recordedJob<AgentJobData>(originId, key),
    patch: async (digest: string) => JSON.parse(need(await store.loadPatch(originId, digest), `patch ${digest}`)) as RowPatch,
    file: async (path: string) => need(await store.loadFile(originId, path), `file ${path}`),
  };
}
