/**
 * processAgentJob's decisions, one outcome per test, over a fake ProcessorDeps: an in-memory store with
 * the same rules as the Lua commands it stands for (first before snapshot kept, `finish` only from the
 * given statuses), an in-memory API, a limiter that hands out slots. The real parts are exercised by
 * the *.redis tests; this file is what lets `npm run mutate` judge the processor in seconds.
 */
import { DelayedError } from 'bullmq';
import { beforeEach, describe, expect, it } from 'vitest';
import { markRedacted } from '../src/api/client.js';
import { NovaApiError, type ApiErrorKind } from '../src/api/errors.js';
import type { Agent } from '../src/api/types.js';
import type { AgentJobData } from '../src/batch/job.js';
import { ORG_BLOCKED_WAIT_MS } from '../src/worker/org-blocks.js';
import { DEFER_MS, LEASE_WAIT_MS, processAgentJob, type AgentJob, type ProcessorDeps, type ProcessorStore } from '../src/worker/processor.js';
import type { Slot } from '../src/worker/rate-limiter.js';
import type { ScheduleState } from '../src/batch/window.js';
import { generateFleet } from '../src/mock/fleet.js';
import type { RowPatch } from '../src/patch/types.js';
import type { AgentStatus, BatchStatus } from '../src/batch/lifecycle.js';
import type { AgentRecord } from '../src/batch/records.js';

const BATCH = 'b1';
const ORG = 'org-1';
const ID = 'agent-1';
const KEY = `${ORG}/${ID}`;

const clone = <T>(value: T): T => structuredClone(value);

class FakeStore implements ProcessorStore {
  status = new Map<string, AgentStatus>([[KEY, 'pending']]);
  attempts = 0;
  uncounted = 0;
  before: Agent | undefined;
  leaseHolder: string | undefined;
  waiters: string[] = [];
  batchStatus: BatchStatus | undefined = 'running';
  origin: AgentRecord | undefined;
  finished: Array<{ to: AgentStatus; record: { before?: Agent; after?: Agent; changed?: string[]; error?: string; job?: unknown } }> = [];
  errors: string[] = [];

  async takeLease(batchId: string): Promise<string | undefined> {
    if (this.leaseHolder === undefined || this.leaseHolder === batchId) {
      this.leaseHolder = batchId;
      return undefined;
    }
    this.waiters.push(batchId);
    return this.leaseHolder;
  }
  async beginWithLease(batchId: string, key: string): Promise<{ status: AgentStatus | undefined; holder: string | undefined }> {
    return { status: await this.beginAttempt(batchId, key), holder: await this.takeLease(batchId) };
  }
  async leasedElsewhere(batchId: string): Promise<boolean> {
    return this.leaseHolder !== undefined && this.leaseHolder !== batchId;
  }
  async releaseLease(batchId: string): Promise<string[]> {
    if (this.leaseHolder !== batchId) return [];
    this.leaseHolder = undefined;
    return this.waiters.splice(0);
  }
  async beginAttempt(_batchId: string, key: string): Promise<AgentStatus | undefined> {
    const status = this.status.get(key);
    if (status === 'pending') this.attempts++;
    return status;
  }
  async agentRecord(): Promise<AgentRecord | undefined> {
    return this.origin;
  }
  async finish(_batchId: string, key: string, to: AgentStatus, from: AgentStatus | readonly AgentStatus[] | '*', record: FakeStore['finished'][number]['record']): Promise<boolean> {
    const current = this.status.get(key)!;
    if (from !== '*' && !(typeof from === 'string' ? [from] : from).includes(current)) return false;
    this.status.set(key, to);
    this.finished.push({ to, record: clone(record) });
    return true;
  }
  async finishAndRelease(batchId: string, key: string, to: AgentStatus, from: AgentStatus | readonly AgentStatus[] | '*', record: FakeStore['finished'][number]['record']): Promise<{ moved: boolean; waiters: string[] }> {
    const moved = await this.finish(batchId, key, to, from, record);
    return { moved, waiters: await this.releaseLease(batchId) };
  }
  async saveBefore(_batchId: string, _key: string, agent: Agent): Promise<({ first: true } | { first: false; before: Agent }) & { status: BatchStatus | undefined }> {
    if (this.before) return { first: false, before: clone(this.before), status: this.batchStatus };
    this.before = clone(agent);
    return { first: true, status: this.batchStatus };
  }
  async uncountAttempt(): Promise<void> {
    this.attempts--;
    this.uncounted++;
  }
  async noteError(_batchId: string, _key: string, error: string): Promise<void> {
    this.errors.push(error);
  }
  async loadBefore(): Promise<Agent | undefined> {
    return this.before && clone(this.before);
  }
}

/** The API: one agent, calls recorded, faults queued per method. */
class FakeApi {
  agent: Agent;
  calls: Array<{ method: 'GET' | 'PATCH'; body?: Record<string, unknown> }> = [];
  faults: { GET: NovaApiError[]; PATCH: NovaApiError[] } = { GET: [], PATCH: [] };
  /** The PATCH's reply leaves these fields as they were (a server that ignored them). */
  ignore: string[] = [];
  /** Someone else edits the agent right after our GET (between the read and the write). */
  afterGet: ((agent: Agent) => void) | undefined;

  constructor(agent: Agent) {
    this.agent = clone(agent);
  }
  async getAgent(): Promise<Agent> {
    this.calls.push({ method: 'GET' });
    const fault = this.faults.GET.shift();
    if (fault) throw fault;
    const read = clone(this.agent);
    this.afterGet?.(this.agent);
    return read;
  }
  async patchAgent(_org: string, _id: string, body: Record<string, unknown>): Promise<Agent> {
    this.calls.push({ method: 'PATCH', body: clone(body) });
    const fault = this.faults.PATCH.shift();
    if (fault) throw fault;
    for (const [field, value] of Object.entries(body)) if (!this.ignore.includes(field)) (this.agent as Record<string, unknown>)[field] = clone(value);
    return clone(this.agent);
  }
  methods(): string[] {
    return this.calls.map((c) => c.method);
  }
}

function apiError(kind: ApiErrorKind, status?: number, retryAfterMs?: number): NovaApiError {
  return new NovaApiError({ kind, method: 'GET', path: `/org/${ORG}/agents/${ID}`, ...(status ? { status } : {}), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
}

const original = (): Agent => ({ ...generateFleet({ agents: 1, orgs: 1 }).agents.values().next().value!, name: 'Old name', prompt_template: 'You are Acme support.' });

interface World {
  store: FakeStore;
  api: FakeApi;
  job: AgentJob & { delays: number[]; promoted: number };
  deps: ProcessorDeps;
  penalties: number[];
  slots: Array<Partial<Slot>>;
  schedule: ScheduleState;
  freshReads: number;
  authFailures: number;
  deadlines: number;
  woken: string[][];
  troubles: Array<'halted' | 'outage' | 'reachable'>;
  /** Rate slots taken, and how often a request met the API's answer. */
  acquired: number;
  reachable: number;
  run: () => Promise<string>;
}

let w: World;

function world(patch: RowPatch = { name: 'New name' }, overrides: Partial<ProcessorDeps> = {}): World {
  const store = new FakeStore();
  const api = new FakeApi(original());
  const data: AgentJobData = { k: KEY, l: 2, i: patch };
  const job = {
    data,
    attemptsMade: 0,
    opts: { attempts: 3 },
    delays: [] as number[],
    promoted: 0,
    async moveToDelayed(timestamp: number) {
      job.delays.push(timestamp - Date.now());
    },
    async promote() {
      job.promoted++;
    },
  } as unknown as World['job'];
  const self = { store, api, job, penalties: [], slots: [], schedule: 'open', freshReads: 0, authFailures: 0, deadlines: 0, woken: [], troubles: [], acquired: 0, reachable: 0 } as unknown as World;
  self.deps = {
    store,
    client: api,
    batchId: BATCH,
    options: { rate: 10, attempts: 3, backoffMs: 100, backoffCapMs: 1000 },
    limiter: {
      acquire: async () => {
        self.acquired++;
        return { waitedMs: 0, status: store.batchStatus, penalties: self.penalties.length, ...self.slots.shift() };
      },
      penalize: async (ms: number) => void self.penalties.push(ms),
      stale: (slot: Slot) => slot.penalties !== self.penalties.length,
    },
    batchStatus: async (fresh?: boolean) => {
      if (fresh) self.freshReads++;
      return store.batchStatus ?? 'cancelled';
    },
    onAuthRefused: async () => ++self.authFailures >= 3,
    onApiReachable: () => void self.reachable++,
    onApiTrouble: async () => self.troubles.shift() ?? 'reachable',
    patch: async () => {
      throw new Error('no stored patches here');
    },
    file: async () => 'file text',
    schedule: ((fresh?: true) => (fresh ? Promise.resolve(self.schedule) : self.schedule)) as ProcessorDeps['schedule'],
    onDeadline: async () => void self.deadlines++,
    wake: async (_key: string, batches: string[]) => void self.woken.push(batches),
    ...overrides,
  };
  // Whatever the job says it did is what it recorded.
  self.run = async () => {
    const outcome = await processAgentJob(self.deps, job, 'token');
    if (outcome !== 'already_done') expect(store.finished.at(-1)?.to).toBe(outcome);
    return outcome;
  };
  return self;
}

/** The last finish, with its status. */
const last = () => w.store.finished.at(-1)!;

describe('processAgentJob: a first attempt', () => {
  beforeEach(() => {
    w = world();
  });

  it('applies: one GET, one PATCH of only the differing fields, the before and after recorded, the lease released', async () => {
    expect(await w.run()).toBe('applied');
    expect(w.api.calls).toEqual([{ method: 'GET' }, { method: 'PATCH', body: { name: 'New name' } }]);
    expect(last().to).toBe('applied');
    expect(last().record.before!.name).toBe('Old name');
    expect(last().record.after!.name).toBe('New name');
    expect(last().record.changed).toEqual(['name']);
    expect(last().record.error).toBeUndefined();
    expect(w.store.leaseHolder).toBeUndefined();
    expect(w.store.attempts).toBe(1);
    // Two slots (the PATCH's reserved while the snapshot was stored), two answers, nobody to wake.
    expect(w.acquired).toBe(2);
    expect(w.reachable).toBe(2);
    expect(w.woken).toEqual([]);
  });

  it('is unchanged when the agent already carries the patch: no PATCH', async () => {
    w.api.agent.name = 'New name';
    expect(await w.run()).toBe('unchanged');
    expect(w.api.methods()).toEqual(['GET']);
    expect(last().record.changed).toEqual([]);
    expect(last().record.job).toBeUndefined();
    // No slot is reserved for a PATCH that will not be sent.
    expect(w.acquired).toBe(1);
  });

  it('is already_done for an agent no longer pending: no request, no finish', async () => {
    w.store.status.set(KEY, 'applied');
    expect(await w.run()).toBe('already_done');
    expect(w.api.calls).toEqual([]);
    expect(w.store.finished).toEqual([]);
    expect(w.store.leaseHolder).toBeUndefined();
  });

  it('fails not_applied when the reply does not carry the change', async () => {
    w = world({ name: 'New name', prompt_template: 'New prompt' });
    w.api.ignore = ['name', 'prompt_template'];
    expect(await w.run()).toBe('failed');
    expect(last().record.error).toBe('not_applied: the reply does not carry name, prompt_template');
    expect(last().record.job).toEqual(w.job.data);
  });

  it('fails "patch cannot apply" for a $replace on a field the agent holds no text in', async () => {
    w = world({ prompt_template: { $replace: { find: 'Acme', with: 'Acme Corp' } } } as RowPatch);
    (w.api.agent as Record<string, unknown>).prompt_template = null;
    expect(await w.run()).toBe('failed');
    expect(last().record.error).toMatch(/^patch cannot apply: prompt_template: /);
    expect(w.api.methods()).toEqual(['GET']);
  });

  it('fails a job whose patch (rewritten in Redis) names a read-only field, before any write', async () => {
    w = world({ id: 'another' } as RowPatch);
    expect(await w.run()).toBe('failed');
    expect(last().record.error).toMatch(/^the job's patch is not valid \(changed in Redis since submit\?\): id: /);
    expect(w.api.methods()).toEqual(['GET']);
  });

  it('fills $template from the job\'s variables', async () => {
    w = world({ name: { $template: 'name.txt' } } as RowPatch, { file: async () => 'Agent {{city}}' });
    w.job.data.v = { city: 'Lyon' };
    expect(await w.run()).toBe('applied');
    expect(w.api.agent.name).toBe('Agent Lyon');
  });

  it('resolves $file text through deps.file for the PATCH', async () => {
    w = world({ prompt_template: { $file: 'prompt.md' } } as RowPatch);
    expect(await w.run()).toBe('applied');
    expect(w.api.calls[1]!.body).toEqual({ prompt_template: 'file text' });
  });
});

describe('processAgentJob: preconditions', () => {
  it('an agent that does not meet its row\'s expect is skipped with the reason, and no PATCH is sent', async () => {
    w = world();
    w.job.data.e = { name: 'Another name' };
    expect(await w.run()).toBe('skipped');
    expect(w.api.methods()).toEqual(['GET']);
    expect(last().record.error).toBe('precondition: name is "Old name", expected "Another name"');
    expect(last().record.job).toEqual(w.job.data);
    w = world();
    w.job.data.e = { name: 'Old name' };
    expect(await w.run()).toBe('applied');
  });
});

describe('processAgentJob: the gate', () => {
  it('a paused batch puts the job back for DEFER_MS without a request, giving back its attempt', async () => {
    w = world();
    w.store.batchStatus = 'paused';
    await expect(w.run()).rejects.toBeInstanceOf(DelayedError);
    expect(w.api.calls).toEqual([]);
    expect(w.job.delays).toHaveLength(1);
    expect(w.job.delays[0]).toBeGreaterThan(DEFER_MS - 100);
    expect(w.job.delays[0]).toBeLessThanOrEqual(DEFER_MS);
    expect(w.store.attempts).toBe(0);
    expect(w.store.uncounted).toBe(1);
    expect(w.store.leaseHolder).toBeUndefined();
  });

  it('a cancelled (or pruned) batch skips the agent, keeping its job for retry --skipped', async () => {
    for (const status of ['cancelled', undefined] as const) {
      w = world();
      w.store.batchStatus = status;
      expect(await w.run()).toBe('skipped');
      expect(w.api.calls).toEqual([]);
      expect(last().record).toMatchObject({ error: 'batch cancelled', job: w.job.data });
    }
  });

  it('a status read after a slot that waited is fresh; one with no wait trusts the slot', async () => {
    w = world();
    expect(await w.run()).toBe('applied');
    expect(w.freshReads).toBe(0);
    w = world();
    w.slots.push({ waitedMs: 50 });
    expect(await w.run()).toBe('applied');
    expect(w.freshReads).toBe(1);
  });

  it('a batch paused while the PATCH waited for its slot sends no PATCH', async () => {
    w = world();
    // The GET's slot: running. The PATCH's slot waited, and the batch was paused meanwhile.
    w.slots.push({}, { waitedMs: 200 });
    w.api.afterGet = () => (w.store.batchStatus = 'paused');
    await expect(w.run()).rejects.toBeInstanceOf(DelayedError);
    expect(w.api.methods()).toEqual(['GET']);
    expect(w.store.status.get(KEY)).toBe('pending');
  });

  it('a batch paused while the PATCH waited for a place among the requests in flight sends no PATCH', async () => {
    w = world();
    // Both slots needed no wait (their status: running), but the PATCH queued for a place, and the
    // batch was paused meanwhile: the status is read again before it goes.
    let calls = 0;
    w.deps.inFlight = (send) => {
      if (++calls === 1) return send(false);
      w.store.batchStatus = 'paused';
      return send(true);
    };
    await expect(w.run()).rejects.toBeInstanceOf(DelayedError);
    expect(w.api.methods()).toEqual(['GET']);
    expect(w.freshReads).toBe(1);
    expect(w.store.status.get(KEY)).toBe('pending');
  });

  it('with a live status feed that published nothing meanwhile, a request that waited for a place goes on the status it knew', async () => {
    w = world();
    w.deps.statusVersion = () => 7;
    w.deps.inFlight = (send) => send(true);
    expect(await w.run()).toBe('applied');
    expect(w.freshReads).toBe(0);
  });

  it('a change published while the PATCH waited for a place makes the gate read the status again: paused, no PATCH', async () => {
    w = world();
    let version = 7;
    let calls = 0;
    w.deps.statusVersion = () => version;
    // Paused (and published) while the PATCH waits for its place: after the before snapshot's read.
    w.deps.inFlight = (send) => {
      if (++calls === 2) {
        w.store.batchStatus = 'paused';
        version++;
      }
      return send(true);
    };
    await expect(w.run()).rejects.toBeInstanceOf(DelayedError);
    expect(w.api.methods()).toEqual(['GET']);
    expect(w.freshReads).toBe(1);
  });

  it('a status feed that is not live (undefined) is no reason to trust: the status is read again', async () => {
    w = world();
    w.deps.statusVersion = () => undefined;
    w.deps.inFlight = (send) => send(true);
    expect(await w.run()).toBe('applied');
    expect(w.freshReads).toBe(2);
  });

  it('a closed window defers; a passed deadline ends the batch (onDeadline) and skips the agent', async () => {
    w = world();
    w.schedule = 'closed';
    await expect(w.run()).rejects.toBeInstanceOf(DelayedError);
    expect(w.api.calls).toEqual([]);
    w = world();
    w.schedule = 'past_deadline';
    expect(await w.run()).toBe('skipped');
    expect(w.deadlines).toBe(1);
    expect(last().record.error).toBe('deadline passed');
    expect(w.api.calls).toEqual([]);
  });

  it('a window said shut by the last poll is confirmed on a fresh read: reopened, the request goes', async () => {
    w = world();
    w.deps.schedule = ((fresh?: true) => (fresh ? Promise.resolve('open') : 'closed')) as ProcessorDeps['schedule'];
    expect(await w.run()).toBe('applied');
  });

  it('a worker stopped while the status was read fresh sends nothing', async () => {
    const stop = new AbortController();
    w = world({ name: 'New name' }, { stop: stop.signal });
    w.slots.push({ waitedMs: 100 });
    const read = w.deps.batchStatus;
    w.deps.batchStatus = async (fresh?: boolean) => {
      stop.abort();
      return read(fresh);
    };
    await expect(w.run()).rejects.toBeInstanceOf(DelayedError);
    expect(w.api.calls).toEqual([]);
  });

  it('cancelled while the PATCH waited: skipped, with what was read kept', async () => {
    w = world();
    w.slots.push({}, { waitedMs: 200 });
    w.api.afterGet = () => (w.store.batchStatus = 'cancelled');
    expect(await w.run()).toBe('skipped');
    expect(w.api.methods()).toEqual(['GET']);
    expect(last().record.before!.name).toBe('Old name');
    expect(last().record.after!.name).toBe('Old name');
  });

  it('a stopping worker puts the job straight back (no delay), unsent', async () => {
    const stop = new AbortController();
    stop.abort();
    w = world({ name: 'New name' }, { stop: stop.signal });
    await expect(w.run()).rejects.toBeInstanceOf(DelayedError);
    expect(w.job.delays[0]).toBeLessThanOrEqual(0);
    expect(w.job.delays[0]).toBeGreaterThan(-100);
    expect(w.api.calls).toEqual([]);
    expect(w.store.uncounted).toBe(1);
  });
});

describe('processAgentJob: leases', () => {
  it('an agent leased by another batch: the job sleeps LEASE_WAIT_MS with no request and no attempt', async () => {
    w = world();
    w.store.leaseHolder = 'other';
    await expect(w.run()).rejects.toBeInstanceOf(DelayedError);
    expect(w.api.calls).toEqual([]);
    expect(w.job.delays[0]).toBeGreaterThan(LEASE_WAIT_MS - 100);
    expect(w.store.attempts).toBe(0);
    expect(w.store.leaseHolder).toBe('other');
    expect(w.job.promoted).toBe(0);
  });

  it('a lease released between the take and the sleep: the job wakes itself', async () => {
    w = world();
    w.store.leaseHolder = 'other';
    const move = w.job.moveToDelayed.bind(w.job);
    w.job.moveToDelayed = async (ts: number, token?: string) => {
      w.store.leaseHolder = undefined;
      return move(ts, token);
    };
    await expect(w.run()).rejects.toBeInstanceOf(DelayedError);
    expect(w.job.promoted).toBe(1);
  });

  it('releasing the lease wakes the batches that waited for it', async () => {
    w = world();
    w.store.waiters = ['waiting-1', 'waiting-2'];
    expect(await w.run()).toBe('applied');
    expect(w.woken).toEqual([['waiting-1', 'waiting-2']]);
  });
});

describe('processAgentJob: errors', () => {
  it('a 429 waits (the limiter penalised with its Retry-After) and costs no attempt', async () => {
    w = world();
    w.job.opts = { attempts: 1 };
    w.api.faults.PATCH.push(apiError('rate_limited', 429, 2000), apiError('rate_limited', 429));
    expect(await w.run()).toBe('applied');
    expect(w.penalties).toEqual([2000, 1000]);
    expect(w.api.methods()).toEqual(['GET', 'PATCH', 'PATCH', 'PATCH']);
  });

  it('30 429s in a row are waited out; the 31st fails like any retryable error', async () => {
    w = world();
    w.job.opts = { attempts: 1 };
    for (let i = 0; i < 31; i++) w.api.faults.GET.push(apiError('rate_limited', 429));
    expect(await w.run()).toBe('failed');
    expect(w.api.methods()).toHaveLength(31);
    expect(w.penalties).toHaveLength(30);
    // Each wait takes a new slot: the first one is not reused.
    expect(w.acquired).toBe(31);
  });

  it('a retryable error with attempts left is thrown for BullMQ to retry, noted on the agent', async () => {
    w = world();
    const error = apiError('server', 500);
    w.api.faults.GET.push(error);
    await expect(w.run()).rejects.toBe(error);
    expect(w.store.errors).toEqual([error.message]);
    expect(w.authFailures).toBe(0);
    expect(w.reachable).toBe(0);
    expect(w.store.status.get(KEY)).toBe('pending');
    expect(w.store.leaseHolder).toBeUndefined();
  });

  it('the last attempt fails the agent, keeping the first before snapshot and the job', async () => {
    w = world();
    w.job.attemptsMade = 2;
    w.store.before = { ...w.api.agent };
    w.api.faults.PATCH.push(apiError('server', 503));
    expect(await w.run()).toBe('failed');
    expect(last().record.before!.name).toBe('Old name');
    expect(last().record.job).toEqual(w.job.data);
  });

  it('a non-retryable error (422) fails at once, whatever the attempts left — even during an outage', async () => {
    w = world();
    w.troubles.push('outage');
    w.api.faults.PATCH.push(apiError('client', 422));
    expect(await w.run()).toBe('failed');
    expect(w.store.errors).toEqual([]);
    expect(w.authFailures).toBe(0);
    expect(w.troubles).toEqual(['outage']); // never asked: a 422 is the API answering
    expect(w.reachable).toBe(2); // the GET's answer, and the 422's
    expect(last().record.job).toEqual(w.job.data);
  });

  it('with no attempts on the job, the batch\'s own count decides', async () => {
    w = world();
    w.job.opts = {};
    w.job.attemptsMade = 2;
    w.api.faults.GET.push(apiError('server', 500));
    expect(await w.run()).toBe('failed');
    w = world();
    w.job.opts = {};
    w.job.attemptsMade = 1;
    w.api.faults.GET.push(apiError('server', 500));
    await expect(w.run()).rejects.toMatchObject({ kind: 'server' });
  });

  it('only network, timeout and retryable server errors count as the API being down', async () => {
    for (const error of [apiError('network'), apiError('timeout'), apiError('server', 503)]) {
      w = world();
      w.troubles.push('outage');
      w.api.faults.GET.push(error);
      await expect(w.run()).rejects.toBeInstanceOf(DelayedError);
      expect(w.troubles).toEqual([]);
    }
    for (const error of [apiError('server', 501), apiError('client', 400), apiError('not_found', 404)]) {
      w = world();
      w.troubles.push('outage');
      w.api.faults.GET.push(error);
      expect(await w.run()).toBe('failed');
      expect(w.troubles).toEqual(['outage']);
    }
  });

  it('a 401 is the org\'s key, not the agent: it stays pending (no attempt spent), back in a second', async () => {
    w = world();
    w.api.faults.GET.push(apiError('auth', 401));
    await expect(w.run()).rejects.toBeInstanceOf(DelayedError);
    expect(w.authFailures).toBe(1);
    expect(w.store.status.get(KEY)).toBe('pending');
    expect(w.store.uncounted).toBe(1);
    expect(w.job.delays[0]).toBeGreaterThan(DEFER_MS - 100);
    expect(w.job.delays[0]).toBeLessThanOrEqual(DEFER_MS);
  });

  it('the refusal that blocks the org puts its job to sleep; a blocked org\'s jobs send nothing', async () => {
    w = world();
    w.authFailures = 2;
    w.api.faults.PATCH.push(apiError('auth', 403));
    await expect(w.run()).rejects.toBeInstanceOf(DelayedError);
    expect(w.job.delays[0]).toBeGreaterThan(ORG_BLOCKED_WAIT_MS - 100);
    w = world({ name: 'New name' }, { orgBlocked: (org) => org === ORG });
    await expect(w.run()).rejects.toBeInstanceOf(DelayedError);
    expect(w.api.calls).toEqual([]);
    expect(w.job.delays[0]).toBeGreaterThan(ORG_BLOCKED_WAIT_MS - 100);
    expect(w.store.attempts).toBe(0);
  });

  it('an API that looks down during an outage spends no attempt: the job waits, pending', async () => {
    w = world();
    w.troubles.push('outage');
    w.api.faults.GET.push(apiError('network'));
    await expect(w.run()).rejects.toBeInstanceOf(DelayedError);
    expect(w.store.uncounted).toBe(1);
    expect(w.store.errors).toHaveLength(1);
    expect(w.job.delays[0]).toBeGreaterThan(0);
    // While the API answers other requests, the same error is an ordinary retryable one.
    w = world();
    w.api.faults.GET.push(apiError('network'));
    await expect(w.run()).rejects.toMatchObject({ kind: 'network' });
    expect(w.store.uncounted).toBe(0);
  });
});

describe('processAgentJob: every failure ends in an attempt spent, a halt, or success (issue 24)', () => {
  it('a PATCH that looks down after this attempt\'s GET was answered spends an attempt, even during an outage', async () => {
    w = world();
    w.troubles.push('outage', 'outage');
    w.api.faults.PATCH.push(apiError('timeout'));
    await expect(w.run()).rejects.toMatchObject({ kind: 'timeout' });
    expect(w.store.uncounted).toBe(0);
    expect(w.troubles).toEqual(['outage', 'outage']); // the outage clock was not asked
    expect(w.api.methods()).toEqual(['GET', 'PATCH']);
    // Its last attempt fails the agent.
    w = world();
    w.troubles.push('outage');
    w.job.attemptsMade = 2;
    w.api.faults.PATCH.push(apiError('server', 503));
    expect(await w.run()).toBe('failed');
    expect(last().record.error).toContain('503');
  });

  it('a reply about another agent (WRONG_AGENT) is not the API being down: an attempt, not an outage wait', async () => {
    const { WRONG_AGENT, looksDown } = await import('../src/api/errors.js');
    const wrong = new NovaApiError({ kind: 'server', method: 'GET', path: '/org/o/agents/a', status: 200, retryable: true, code: WRONG_AGENT, serverMessage: 'the reply is for agent b, not a' });
    expect(looksDown(wrong)).toBe(false);
    expect(looksDown(new NovaApiError({ kind: 'server', method: 'GET', path: '/x', status: 200, retryable: true }))).toBe(true);
    w = world();
    w.troubles.push('outage');
    w.api.faults.GET.push(wrong);
    await expect(w.run()).rejects.toBe(wrong);
    expect(w.store.uncounted).toBe(0);
    expect(w.troubles).toEqual(['outage']);
  });
});

describe('processAgentJob: an applied plan (issue 24)', () => {
  it('an agent already at its planned values is unchanged, not a conflict; one that drifted elsewhere is a conflict', async () => {
    w = world({ name: 'New name' }, { options: { rate: 10, attempts: 3, backoffMs: 100, backoffCapMs: 1000, planned: true } });
    w.api.agent.name = 'New name';
    w.job.data.e = { name: 'Old name' };
    expect(await w.run()).toBe('unchanged');
    expect(w.api.methods()).toEqual(['GET']);
    w = world({ name: 'New name' }, { options: { rate: 10, attempts: 3, backoffMs: 100, backoffCapMs: 1000, planned: true } });
    w.api.agent.name = 'Someone else';
    w.job.data.e = { name: 'Old name' };
    expect(await w.run()).toBe('conflict');
    expect(last().record.error).toBe('changed since the plan: name is "Someone else", expected "Old name" (left alone; `nova-fleet retry b1 --force` applies anyway)');
    expect(w.api.methods()).toEqual(['GET']);
  });
});

describe('processAgentJob: later attempts', () => {
  it('targets from the first before snapshot, so $replace applies once', async () => {
    w = world({ prompt_template: { $replace: { find: 'Acme', with: 'Acme Corp' } } } as RowPatch);
    // The first attempt's PATCH landed but its reply was lost: the agent already carries the change.
    w.store.before = { ...w.api.agent };
    w.api.agent.prompt_template = 'You are Acme Corp support.';
    w.job.attemptsMade = 1;
    expect(await w.run()).toBe('applied');
    expect(w.api.methods()).toEqual(['GET']);
    expect(w.api.agent.prompt_template).toBe('You are Acme Corp support.');
  });

  it('leaves a field someone else edited since the first attempt alone: conflict (retry --force overrides)', async () => {
    w = world();
    w.store.before = { ...w.api.agent };
    w.api.agent.name = 'Edited by a person';
    w.job.attemptsMade = 1;
    expect(await w.run()).toBe('conflict');
    expect(w.api.methods()).toEqual(['GET']);
    expect(last().record.error).toBe(`changed by someone else since the first attempt: name (left alone; \`nova-fleet retry ${BATCH} --force\` applies anyway)`);
    w = world({ name: 'New name' }, { force: () => true });
    w.store.before = { ...w.api.agent };
    w.api.agent.name = 'Edited by a person';
    expect(await w.run()).toBe('applied');
    expect(w.api.agent.name).toBe('New name');
  });
});

describe('processAgentJob: the API key inside the agent', () => {
  it('fails an agent whose field to change came back holding the key, and sends nothing', async () => {
    w = world();
    const get = w.api.getAgent.bind(w.api);
    w.api.getAgent = async () => markRedacted({ ...(await get()), name: '[redacted]' }, ['name']);
    expect(await w.run()).toBe('failed');
    expect(last().record.error).toMatch(/^the API sent the API key inside name;/);
    expect(w.api.methods()).toEqual(['GET']);
  });

  it('applies when the key sat in a field it does not change, and says it was stored redacted', async () => {
    w = world();
    const get = w.api.getAgent.bind(w.api);
    w.api.getAgent = async () => markRedacted({ ...(await get()), prompt_template: '[redacted]' }, ['prompt_template']);
    expect(await w.run()).toBe('applied');
    expect(last().record.error).toBe('note: the API echoed the API key in prompt_template; stored as [redacted]');
    // Two fields: both named.
    w = world();
    const get2 = w.api.getAgent.bind(w.api);
    w.api.getAgent = async () => markRedacted({ ...(await get2()), prompt_template: '[redacted]', description: '[redacted]' }, ['prompt_template', 'description']);
    expect(await w.run()).toBe('applied');
    expect(last().record.error).toBe('note: the API echoed the API key in prompt_template, description; stored as [redacted]');
  });
});

describe('processAgentJob: rollbacks', () => {
  const origin = (status: AgentStatus, before: Agent, after: Agent): AgentRecord => ({ key: KEY, status, attempts: 1, before, after, changed: ['name'] });

  it('restores the touched field to the origin\'s before snapshot', async () => {
    w = world({}, { rollback: { of: 'origin', changed: 'applied', force: false } });
    const before = { ...w.api.agent };
    w.api.agent.name = 'New name';
    w.store.origin = origin('applied', before, { ...w.api.agent });
    expect(await w.run()).toBe('restored');
    expect(w.api.agent.name).toBe('Old name');
    expect(w.api.calls[1]!.body).toEqual({ name: 'Old name' });
    expect(last().record.changed).toEqual(['name']);
  });

  it('an agent already back to the origin\'s before (restored by an earlier attempt) is no conflict', async () => {
    w = world({}, { rollback: { of: 'origin', changed: 'applied', force: false } });
    const before = { ...w.api.agent };
    w.store.origin = origin('applied', before, { ...before, name: 'New name' });
    expect(await w.run()).toBe('unchanged');
    expect(w.api.methods()).toEqual(['GET']);
    expect(last().record.changed).toEqual([]);
  });

  it('costs no request for an agent the origin never changed', async () => {
    w = world({}, { rollback: { of: 'origin', changed: 'applied', force: false } });
    w.store.origin = { key: KEY, status: 'unchanged', attempts: 1 };
    expect(await w.run()).toBe('unchanged');
    expect(w.api.calls).toEqual([]);
    expect(last().record.job).toBeUndefined();
  });

  it('is a conflict when someone changed the field since the origin, unless forced', async () => {
    for (const force of [false, true]) {
      w = world({}, { rollback: { of: 'origin', changed: 'applied', force } });
      const before = { ...w.api.agent };
      w.store.origin = origin('applied', before, { ...before, name: 'New name' });
      w.api.agent.name = 'Edited since';
      expect(await w.run()).toBe(force ? 'restored' : 'conflict');
      expect(w.api.agent.name).toBe(force ? 'Old name' : 'Edited since');
      if (!force) expect(last().record.error).toBe('changed since batch origin: name (left alone; --force restores anyway)');
    }
  });

  it('cannot restore a field the agent did not have: failed, without a request', async () => {
    w = world({}, { rollback: { of: 'origin', changed: 'applied', force: false } });
    const before = { ...w.api.agent };
    delete (before as Record<string, unknown>).name;
    w.store.origin = origin('applied', before, { ...w.api.agent });
    expect(await w.run()).toBe('failed');
    expect(last().record.error).toMatch(/a PATCH cannot remove a field/);
    expect(last().record.job).toEqual(w.job.data);
    expect(w.api.calls).toEqual([]);
  });
});
