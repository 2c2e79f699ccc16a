/**
 * The plan file (SPEC §12) that `plan --out` writes and `apply` reads: valid JSON, one agent per line
 * so that a 100k-agent plan is written and read as a stream, and sealed with the SHA-256 of everything
 * before its last line, so an edited plan is refused rather than applied.
 *
 *   {"nova_fleet_plan":1,"header":{…},"agents":[
 *   {"line":3,"org_id":…,"agent_id":…,"status":"change","changes":[{"path":…,"before":…,"after":…}]}
 *   ,{…}
 *   ],
 *   "digest":"<sha256 hex>"}
 *
 * A plan crosses a boundary (it is reviewed, copied, perhaps edited): every line is checked for shape,
 * a line is bounded in length, and anything off is a PlanFileError naming the line.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import * as z from 'zod';
import { splitLines } from '../lines.js';
import { isDottedPath } from '../patch/expect.js';
import { openRegularFile } from '../user-files.js';
import type { AgentPlan } from './plan.js';

export const PLAN_FORMAT = 1;

export interface PlanHeader {
  /** The manifest or migration module planned, as given. */
  manifest: string;
  /** Its SHA-256 when planned. */
  manifest_digest: string;
  /** ISO time the plan was made; `apply --max-age` counts from here. */
  created_at: string;
  /** Batch options given to `plan` (the rate), the defaults of `apply`. */
  options: { rate?: number | undefined };
}

export class PlanFileError extends Error {
  override readonly name = 'PlanFileError';
}

/** A plan's lines may carry two prompts of up to 1 MiB each, escaped. */
const MAX_LINE_BYTES = 8 * 1024 * 1024;
const OPENING = `{"nova_fleet_plan":${PLAN_FORMAT},"header":`;
const AGENTS = ',"agents":[';
const CLOSING = '],';

const headerSchema = z.strictObject({
  // Printed back to the operator: no terminal escapes.
  // eslint-disable-next-line no-control-regex
  manifest: z.string().max(4096).regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, 'holds control characters'),
  manifest_digest: z.string().regex(/^[0-9a-f]{64}$/),
  created_at: z.iso.datetime(),
  options: z.strictObject({ rate: z.number().positive().max(100_000).optional() }),
});

const id = z.string().regex(/^[A-Za-z0-9._:-]+$/).max(256);
const agentSchema = z.strictObject({
  line: z.number().int().nonnegative(),
  org_id: id,
  agent_id: id,
  status: z.enum(['change', 'unchanged', 'missing', 'invalid', 'skipped', 'error']),
  changes: z.array(z.strictObject({ path: z.string().refine(isDottedPath, 'not a dotted path'), before: z.json().optional(), after: z.json().optional() })).max(10_000).optional(),
  expect: z.record(z.string().refine(isDottedPath, 'not a dotted path'), z.json()).optional(),
  error: z.string().optional(),
  // The agent as the plan read it (a changing one): apply's before snapshot when it has not moved since.
  before: z.record(z.string(), z.json()).optional(),
});

/** Writes a plan as it is made: the header now, each agent as it is planned, the seal at `close`. */
export class PlanFileWriter {
  readonly #sink: WriteStream;
  readonly #hash = createHash('sha256');
  #agents = 0;

  private constructor(sink: WriteStream) {
    this.#sink = sink;
  }

  static async open(file: string, header: PlanHeader): Promise<PlanFileWriter> {
    const writer = new PlanFileWriter(createWriteStream(file));
    await writer.#write(`${OPENING}${JSON.stringify(header)}${AGENTS}\n`);
    return writer;
  }

  add(plan: AgentPlan): Promise<void> {
    return this.#write(`${this.#agents++ === 0 ? '' : ','}${JSON.stringify(plan)}\n`);
  }

  /** Seals the plan; the caller awaits it before telling anyone the plan exists. */
  async close(): Promise<void> {
    await this.#write(`${CLOSING}\n`);
    this.#sink.end(`"digest":"${this.#hash.digest('hex')}"}\n`);
    await once(this.#sink, 'close');
  }

  /** Stops writing without a seal (a failed plan): what was written is not an appliable plan. */
  async abandon(): Promise<void> {
    this.#sink.end();
    await once(this.#sink, 'close');
  }

  async #write(text: string): Promise<void> {
    this.#hash.update(text);
    if (!this.#sink.write(text)) await once(this.#sink, 'drain');
  }
}

/**
 * Reads a plan, handing each agent to `onAgent` as it goes; resolves with the header once the seal is
 * checked. Throws PlanFileError for anything malformed, and — after the last agent — for a seal that
 * does not match (an edited plan): the caller must not act on the agents before this resolves.
 */
export async function readPlanFile(file: string, onAgent: (plan: AgentPlan) => void | Promise<void>): Promise<{ header: PlanHeader; agents: number }> {
  const handle = await openRegularFile(file, 'plan');
  const stream = handle.createReadStream({ highWaterMark: 64 * 1024 });
  const hash = createHash('sha256');
  const fail = (line: number, message: string) => new PlanFileError(`${file}:${line}: ${message}`);
  let header: PlanHeader | undefined;
  let agents = 0;
  let closed = false;
  let sealed = false;
  try {
    for await (const item of splitLines(stream, MAX_LINE_BYTES)) {
      if (sealed) throw fail(item.line, 'text after the end of the plan');
      if ('tooLong' in item) throw fail(item.line, `line longer than ${MAX_LINE_BYTES / 1024 / 1024} MiB`);
      const { line, text } = item;
      if (closed) {
        const seal = /^"digest":"([0-9a-f]{64})"\}$/.exec(text);
        if (!seal) throw fail(line, 'the plan does not end with its digest');
        if (seal[1] !== hash.digest('hex')) throw new PlanFileError(`${file} was edited after it was written (its digest does not match): make a new plan with \`nova-fleet plan\` rather than editing one`);
        sealed = true;
        continue;
      }
      hash.update(`${text}\n`);
      if (line === 1) {
        if (!text.startsWith(OPENING) || !text.endsWith(AGENTS)) throw fail(1, 'not a nova-fleet plan (write one with `nova-fleet plan MANIFEST --out PLAN.json`)');
        header = parse(headerSchema, text.slice(OPENING.length, -AGENTS.length), (m) => fail(1, `header: ${m}`)) as PlanHeader;
      } else if (text === CLOSING) {
        closed = true;
      } else {
        const json = agents === 0 ? text : text.startsWith(',') ? text.slice(1) : undefined;
        if (json === undefined) throw fail(line, 'an agent line after the first starts with ","');
        await onAgent(parse(agentSchema, json, (m) => fail(line, m)) as AgentPlan);
        agents++;
      }
    }
  } finally {
    stream.destroy();
  }
  if (!header || !sealed) throw new PlanFileError(`${file}: the plan is incomplete (no digest at its end): it was cut short, or its plan failed`);
  return { header, agents };
}

function parse(schema: z.ZodType, text: string, fail: (message: string) => Error): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw fail(`invalid JSON: ${(error as Error).message}`);
  }
  const result = schema.safeParse(value);
  if (!result.success) throw fail(result.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; '));
  return result.data;
}
