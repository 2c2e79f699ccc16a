/**
 * Every Redis key nova-fleet uses, built in one place (STYLE: one owner of all keys).
 *
 * Layout under the prefix P (default `nova-fleet`):
 *   P:history:{<org>#<nn>}    zset   `<agent id>/<batch id>` → when that batch first snapshotted the agent
 *                                    (SPEC §16); an org's agents spread over 256 buckets by a hash of
 *                                    the agent id, so the index costs ~60 bytes per agent-version, not a
 *                                    key per agent (~200)
 *   P:audit                   stream who did what: action, batch, actor, reason (capped, SPEC §16)
 *   P:batches                 zset   batch id → created time (ms); every batch (status, batches, prune)
 *   P:pruned                  zset   batch id → when `prune` deleted it (the newest 100,000): a journal of
 *                                    a pruned batch is not taken for a batch Redis lost (SPEC §16)
 *   P:active                  zset   batch id → created time (ms); the batches workers poll: added on
 *                                    create and on reopen (retry), dropped by a worker once it finds
 *                                    the batch final — so idle workers read a few keys, not the history
 *   P:{B}:meta                hash   batch metadata (manifest, digest, options, status, total, …)
 *   P:{B}:counts              hash   status → number of agents
 *   P:{B}:status              hash   agent key → status
 *   P:{B}:a:<agent key>       hash   one agent: attempts, error, before, after, changed
 *   P:{B}:patches             hash   patch digest → patch JSON (a patch shared by many rows is stored once)
 *   P:{B}:files               hash   manifest-relative path → text ($template sources)
 *   P:{B}:rate                hash   the batch's shared request schedule (rate limiter)
 *   P:{B}:held:<wave>         list   jobs of a later wave, released when the wave before it is done
 *   P:{B}:controller          string the short lock of whichever worker steps the batch's waves
 *   P:{B}:verify:<wave>       string the wave's verification: running (with expiry), passed, failed: …
 *   P:{B}:analysis            hash   wave → the calls gate's judgement of it (JSON, SPEC §14)
 *   P:{B}:planned             hash   agent key → an applied plan's snapshot of it (packed; SPEC §15)
 *   P:{B}:requests            hash   kind (get, patch, list, calls) → API requests the batch sent (SPEC §15)
 *   P:{B}:analysing:<wave>    string the claim of the worker judging the wave now (with expiry)
 *   P:lease:{<agent key>}     string which batch is working on the agent now (one at a time, SPEC §9)
 *   P:lease:{<agent key>}:waiters set  batches whose job for the agent waits for that lease
 *   P:{:workers}              zset   worker id → its last heartbeat (Redis clock, ms)
 *   P:{:workers}:<id>         hash   a live worker: host, pid, batches it serves (* = all), run_verify;
 *                                    expires unless renewed (SPEC §13: nobody working is visible)
 *   P:digest:<sha256>         string the latest batch made from a manifest with this content digest
 *                                    (a re-run attaches to it, SPEC §13)
 *   P:status-changes          channel a batch's meta key, published in the Lua step that changes its
 *                                    status (pause, cancel, every halt, resume…; not completion):
 *                                    workers' gates trust a status read before a wait only while no
 *                                    change was published
 *   P:{B}:agents:<...>        (BullMQ's own keys: queue `agents` with prefix `P:{B}`)
 *   P:{:drift}:drift:<...>    (BullMQ's own keys: queue `drift` whose job schedulers, one per batch,
 *                                    have workers check the batch for drift, SPEC §16)
 * `{B}` is the batch id as a hash tag: one batch's keys, queue included, live in one Cluster slot, so
 * its Lua scripts may touch several of them.
 */

/** A batch id is also a hash tag and part of key names: no braces, colons or spaces. */
export const BATCH_ID = /^[A-Za-z0-9._-]{1,80}$/;

/**
 * A literal for a SCAN MATCH pattern: glob characters escaped. Ids and prefixes are checked never to
 * hold them, but a pattern is the one place where one would widen a delete to the whole prefix.
 */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** The agent key inside a batch: ids cannot contain `/` (manifest ids are [A-Za-z0-9._:-]). */
export const agentKey = (orgId: string, agentId: string): string => `${orgId}/${agentId}`;

export function splitAgentKey(key: string): { orgId: string; agentId: string } {
  const slash = key.indexOf('/');
  return { orgId: key.slice(0, slash), agentId: key.slice(slash + 1) };
}

/** Buckets per org in the history index: 10,000 agents of one org make ~40 entries a bucket (a listpack). */
export const HISTORY_BUCKETS = 256;

/** An agent id's bucket: FNV-1a (32-bit) of its characters, so every process places it alike. */
export function historyBucketOf(agentId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < agentId.length; i++) hash = Math.imul(hash ^ agentId.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % HISTORY_BUCKETS;
}

/** An agent's entry in its history bucket: `<agent id>/<batch id>` (neither holds a `/`). */
export const historyMember = (agentKey: string, batchId: string): string => `${splitAgentKey(agentKey).agentId}/${batchId}`;

export const QUEUE_NAME = 'agents';
/** The queue of scheduled drift checks (SPEC §16). */
export const DRIFT_QUEUE_NAME = 'drift';

export class Keys {
  constructor(readonly prefix: string) {
    if (!/^[A-Za-z0-9._:-]+$/.test(prefix)) throw new RangeError(`invalid Redis prefix "${prefix}": use letters, digits and . _ : -`);
  }

  /** Not a key: the pub/sub channel of batch status changes (a channel has no Cluster slot). */
  statusChannel(): string {
    return `${this.prefix}:status-changes`;
  }

  batches(): string {
    return `${this.prefix}:batches`;
  }

  /**
   * The bucket of the history index (SPEC §16) that holds an agent's entries. Buckets, not a key per
   * agent: a small key costs ~150 bytes before its first entry, a bucket's entry ~60.
   */
  history(agentKey: string): string {
    const { orgId, agentId } = splitAgentKey(agentKey);
    return this.historyBucket(orgId, historyBucketOf(agentId));
  }

  historyBucket(orgId: string, bucket: number): string {
    return `${this.prefix}:history:{${orgId}#${bucket.toString(16).padStart(2, '0')}}`;
  }

  /** Who did what (SPEC §16): a capped stream of every operator action under the prefix. */
  audit(): string {
    return `${this.prefix}:audit`;
  }

  active(): string {
    return `${this.prefix}:active`;
  }

  /** The batches `prune` deleted: gone on purpose, not lost (a journal of one is not rebuilt). */
  pruned(): string {
    return `${this.prefix}:pruned`;
  }

  /** BullMQ's prefix for the batch's queue; its keys become `${queuePrefix}:agents:…`. */
  queuePrefix(batchId: string): string {
    return `${this.prefix}:{${batchId}}`;
  }

  private batch(batchId: string, suffix: string): string {
    return `${this.prefix}:{${batchId}}:${suffix}`;
  }

  meta(batchId: string): string {
    return this.batch(batchId, 'meta');
  }

  counts(batchId: string): string {
    return this.batch(batchId, 'counts');
  }

  status(batchId: string): string {
    return this.batch(batchId, 'status');
  }

  agent(batchId: string, key: string): string {
    return this.batch(batchId, `a:${key}`);
  }

  patches(batchId: string): string {
    return this.batch(batchId, 'patches');
  }

  files(batchId: string): string {
    return this.batch(batchId, 'files');
  }

  /** Pending agents per org (org id → count), kept by the register and finish scripts. */
  orgPending(batchId: string): string {
    return this.batch(batchId, 'org_pending');
  }

  rate(batchId: string): string {
    return this.batch(batchId, 'rate');
  }

  /** Across batches, so not under a batch's tag: its own slot on Cluster (only ever used alone). */
  lease(agentKey: string): string {
    return `${this.prefix}:lease:{${agentKey}}`;
  }

  /**
   * An API key's request schedule, shared by every batch using the key; named by an HMAC of the key
   * (credentials.ts), never the key. Its own slot on Cluster (only ever used alone).
   */
  keySchedule(keyId: string): string {
    return `${this.prefix}:keyrate:{${keyId}}`;
  }

  /** An API key's schedule of writes (`--write-rate`, SPEC §15), shared as its schedule is. */
  keyWrites(keyId: string): string {
    return `${this.prefix}:keywrites:{${keyId}}`;
  }

  /** The batches waiting for an agent's lease (the lease's hash tag: one script touches both). */
  leaseWaiters(agentKey: string): string {
    return `${this.lease(agentKey)}:waiters`;
  }

  /** One hash tag for the heartbeats (one MULTI on Cluster); a colon keeps it apart from any batch id. */
  /** BullMQ's prefix for the scheduled drift checks' queue (its own hash tag: one slot on a Cluster). */
  driftQueuePrefix(): string {
    return `${this.prefix}:{:drift}`;
  }

  workers(): string {
    return `${this.prefix}:{:workers}`;
  }

  worker(id: string): string {
    return `${this.prefix}:{:workers}:${id}`;
  }

  /** Across batches: the latest batch of a manifest digest (hex SHA-256, so no glob or tag characters). */
  digest(sha256: string): string {
    return `${this.prefix}:digest:${sha256}`;
  }

  held(batchId: string, wave: number): string {
    return this.batch(batchId, `held:${wave}`);
  }

  verify(batchId: string, wave: number): string {
    return this.batch(batchId, `verify:${wave}`);
  }

  /** An applied plan's snapshots, agent key → the agent as the plan read it (packed), until its job takes it. */
  planned(batchId: string): string {
    return this.batch(batchId, 'planned');
  }

  /** The requests the batch sent, by kind (SPEC §15). */
  requests(batchId: string): string {
    return this.batch(batchId, 'requests');
  }

  /** The calls gate's judgements: wave → JSON (SPEC §14). */
  analysis(batchId: string): string {
    return this.batch(batchId, 'analysis');
  }

  /** The claim of whichever worker is judging a wave now (expires: a crashed judge's lapses). */
  analysing(batchId: string, wave: number): string {
    return this.batch(batchId, `analysing:${wave}`);
  }

  controller(batchId: string): string {
    return this.batch(batchId, 'controller');
  }
}
