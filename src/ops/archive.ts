/**
 * The export archive, read as untrusted input (issue 13): every line is checked by a schema, ids by
 * the same rules as the CLI's, sizes are bounded — and nothing is written until the whole archive has
 * been read and found good. Whatever it says, an imported batch is inert: it is never active again,
 * and its verify command and notify URL are dropped unless the operator says `--trust`.
 *
 * Format, one JSON object per line (gzip):
 *   {"type":"batch","version":1,"meta":{…},"counts":{…}}          first line
 *   {"type":"patch","digest":…,"json":…} / {"type":"file","path":…,"text":…}
 *   {"type":"agent","key":…,"status":…,"attempts":…,"error":…,"changed":[…],"before":{…},"after":{…},"job":{…}}
 */
import { decodeAnalysis } from '../batch/wave-analysis.js';
import * as z from 'zod';
import { UsageError } from '../errors.js';
import { ENV_NAME } from '../store/batch-store.js';
import { AGENT_STATUSES, FINAL_BATCH_STATUSES, type BatchStatus } from '../batch/lifecycle.js';
import { MAX_RATE, type BatchMeta } from '../batch/records.js';
import { BATCH_ID } from '../store/keys.js';
import { halt } from '../batch/halt.js';

export const ARCHIVE_VERSION = 1;
/** No archive line is longer: the largest is an agent with two multi-KB-prompt snapshots. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
const MAX_TEXT = 5 * 1024 * 1024;

const BATCH_STATUSES = ['scheduled', 'waiting_window', 'running', 'paused', 'waiting_approval', 'halted', 'cancelled', 'completed', 'completed_with_failures'] as const satisfies readonly BatchStatus[];
/** Manifest ids (SPEC §3); an agent key is `org/agent`. */
const ID = /^[A-Za-z0-9._:-]{1,200}$/;
export const agentKeySchema = z.string().refine((key) => {
  const slash = key.indexOf('/');
  return slash > 0 && ID.test(key.slice(0, slash)) && ID.test(key.slice(slash + 1));
}, 'not an agent key org_id/agent_id');
/** Times as epoch ms: from 2000 to a day from now (1e20 crashed `batches`). */
const instant = z.number().int().min(946_684_800_000).refine((t) => t <= Date.now() + 86_400_000, 'in the future');
const count = z.number().int().min(0).max(1e9);
const text = (max: number) => z.string().max(max);
const agentObject = z.record(z.string(), z.unknown());

export const OptionsSchema = z.object({
  rate: z.number().positive().max(MAX_RATE),
  attempts: z.number().int().min(1).max(100),
  backoffMs: z.number().int().min(0).max(3_600_000),
  backoffCapMs: z.number().int().min(0).max(86_400_000),
  outageHaltMs: z.number().int().positive().max(86_400_000).optional(),
  planned: z.boolean().optional(),
  freshnessMs: z.number().int().min(0).max(86_400_000).optional(),
  writeRate: z.number().positive().max(MAX_RATE).optional(),
});

const MetaSchema = z.object({
  id: z.string().regex(BATCH_ID, 'not a batch id'),
  kind: z.enum(['rollout', 'rollback']),
  manifest: text(4096),
  digest: text(128),
  createdAt: instant,
  status: z.enum(BATCH_STATUSES),
  total: count,
  enqueued: z.boolean(),
  options: OptionsSchema,
  finishedAt: instant.optional(),
  haltReason: text(2000).optional(),
  rollbackOf: z.string().regex(BATCH_ID).optional(),
  force: z.boolean().optional(),
  waves: z.array(count).max(1000).optional(),
  wave: count.optional(),
  waveDoneAt: instant.optional(),
  bakeMs: count.optional(),
  approve: z.boolean().optional(),
  approvedWave: z.number().int().min(-1).max(1000).optional(),
  maxFailures: count.optional(),
  autoRollback: z.boolean().optional(),
  autoRollbackId: text(200).optional(),
  startAt: instant.optional(),
  window: text(200).optional(),
  deadline: instant.optional(),
  windowNext: instant.optional(),
  verifyCmd: text(4096).optional(),
  verifyEnv: z.array(z.string().regex(ENV_NAME)).max(100).optional(),
  notifyUrl: text(4096).optional(),
  gate: z.object({ kind: z.literal('calls'), maxDrop: z.number().min(0).max(1), confidence: z.number().min(0.5).max(1), minCalls: count, timeoutMs: count, maxPages: z.number().int().min(1).max(100_000) }).optional(),
  holdCompletion: z.boolean().optional(),
  authSchemes: z.record(z.string().min(1).max(200), z.enum(['x-api-key', 'bearer'])).optional(),
});

const JobSchema = z.object({
  k: agentKeySchema,
  l: z.number().int().min(0),
  p: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
  i: agentObject.optional(),
  v: z.record(z.string(), text(MAX_TEXT)).optional(),
  e: z.record(z.string().max(1000), z.unknown()).optional(),
});

const LineSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('batch'), version: z.literal(ARCHIVE_VERSION), meta: MetaSchema, counts: z.record(z.string(), count).optional() }),
  z.object({ type: z.literal('patch'), digest: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), json: text(MAX_TEXT) }),
  z.object({ type: z.literal('file'), path: text(4096).min(1), text: text(MAX_TEXT) }),
  // A wave's calls-gate judgement (SPEC §14), as the batch kept it; checked again by its own reader.
  z.object({ type: z.literal('analysis'), wave: z.number().int().min(0).max(1000), json: text(100_000) }),
  z.object({
    type: z.literal('agent'),
    key: agentKeySchema,
    status: z.enum(AGENT_STATUSES),
    attempts: count,
    error: text(10_000).optional(),
    changed: z.array(text(200)).max(100).optional(),
    before: agentObject.optional(),
    after: agentObject.optional(),
    job: JobSchema.optional(),
    /** When the batch first snapshotted the agent (ms; archives from before issue 29 have none). */
    at: instant.optional(),
  }),
]);

export type ArchiveLine = z.infer<typeof LineSchema>;
export type ArchiveMeta = z.infer<typeof MetaSchema>;

/** One archive line, parsed and checked; `where` is `FILE:LINE` for the message. */
export function parseArchiveLine(line: string, where: string): ArchiveLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new UsageError(`${where}: not a nova-fleet archive line (invalid JSON)`);
  }
  const parsed = LineSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`${where}: ${issue.path.join('.') || 'line'}: ${issue.message}`, 'the archive was edited, truncated or made by something else; nothing was imported');
  }
  if (parsed.data.type === 'analysis' && decodeAnalysis(parsed.data.json)?.wave !== parsed.data.wave) {
    throw new UsageError(`${where}: json: not a calls-gate judgement of wave ${parsed.data.wave + 1}`);
  }
  if (parsed.data.type === 'patch') {
    try {
      JSON.parse(parsed.data.json);
    } catch {
      throw new UsageError(`${where}: json: not a patch (invalid JSON)`);
    }
  }
  return parsed.data;
}

/**
 * The metadata an imported batch gets: an inert copy. A batch exported while it ran comes back ended
 * (`cancelled`, saying so), never active; its verify command and notify URL (a shell command and a
 * URL, run and called by workers) only with `trust`.
 */
export function inertMeta(meta: ArchiveMeta, trust: boolean): BatchMeta {
  const { verifyCmd, verifyEnv, notifyUrl, ...rest } = meta;
  const ended = FINAL_BATCH_STATUSES.has(meta.status);
  return {
    ...rest,
    ...(ended ? {} : { status: 'cancelled' as const, haltReason: halt('imported', `it was ${meta.status}; an imported batch is never active`) }),
    ...(trust && verifyCmd ? { verifyCmd, ...(verifyEnv ? { verifyEnv } : {}) } : {}),
    // An export masks the URL (`https://host/****`): a masked one is no URL to call.
    ...(trust && notifyUrl && !notifyUrl.endsWith('/****') ? { notifyUrl } : {}),
    total: 0,
    enqueued: false,
  } as BatchMeta;
}

/** Splits a byte stream into lines, refusing one longer than `max` bytes (a bomb, or not an archive). */
export async function* boundedLines(source: AsyncIterable<Buffer>, max: number, where: string): AsyncGenerator<string> {
  let pending: Buffer[] = [];
  let size = 0;
  let lineNo = 0;
  for await (const chunk of source) {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      pending.push(chunk.subarray(start, nl));
      lineNo++;
      if (size + nl - start > max) throw new UsageError(`${where}:${lineNo}: a line longer than ${max} bytes: not a nova-fleet archive`);
      yield Buffer.concat(pending).toString('utf8');
      pending = [];
      size = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start));
      size += chunk.length - start;
      if (size > max) throw new UsageError(`${where}:${lineNo + 1}: a line longer than ${max} bytes: not a nova-fleet archive`);
    }
  }
  if (size > 0) yield Buffer.concat(pending).toString('utf8');
}
