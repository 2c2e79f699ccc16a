/**
 * `select` (SPEC §11): the agents of named orgs that match, found through the API — every page of the
 * list endpoint (type and search filter there), and a GET of each listed agent only when `where`
 * conditions must be checked on its full record. Within the rate given; streamed (a page at a time,
 * in list order), so a 100k-agent org is selected in flat memory.
 */
import { isDeepStrictEqual } from 'node:util';
import pLimit from 'p-limit';
import type { NovaClient } from '../api/client.js';
import type { Agent, Json } from '../api/types.js';
import { isDottedPath, valueAt } from '../patch/expect.js';
import { idProblem } from '../manifest/row.js';

export { valueAt } from '../patch/expect.js';
import { Pacer } from '../plan/pacer.js';

/** One `--where PATH=VALUE`: a dotted path into the agent, and the JSON value it must deep-equal. */
export interface Where {
  path: string[];
  value: Json;
}

/** `PATH=VALUE`: VALUE read as JSON, else taken as a string (`llm_config.model=gpt-4o`). */
export function parseWhere(text: string): Where {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new RangeError(`"${text}" is not PATH=VALUE (e.g. llm_config.model=gpt-4o)`);
  if (!isDottedPath(text.slice(0, eq))) throw new RangeError(`"${text.slice(0, eq)}" is not a dotted path such as llm_config.model`);
  const path = text.slice(0, eq).split('.');
  const raw = text.slice(eq + 1);
  let value: Json;
  try {
    value = JSON.parse(raw) as Json;
  } catch {
    value = raw;
  }
  return { path, value };
}

export function matches(agent: Agent, where: readonly Where[]): boolean {
  return where.every((w) => isDeepStrictEqual(valueAt(agent, w.path), w.value));
}

export interface SelectOptions {
  client: Pick<NovaClient, 'listAgentsPage' | 'getAgent'>;
  orgs: readonly string[];
  type?: string | undefined;
  search?: string | undefined;
  where?: readonly Where[];
  /** Requests per second (pages and GETs together), or a pace shared with other readers of the same budget. */
  pace: number | Pacer;
  /** GETs in flight for `where`. */
  concurrency: number;
  /** Told after each page: the org, agents listed and matched so far. */
  onProgress?: (org: string, listed: number, matched: number) => void;
  /**
   * Told of a listed agent whose id no manifest can hold (SPEC §3's id rule): it is left out, never
   * written into a manifest or a batch — an id from the API is untrusted (formula prefixes in a CSV,
   * terminal escape codes, path tricks).
   */
  onBadId?: (org: string, id: string, problem: string) => void;
}

export async function* selectAgents(options: SelectOptions): AsyncGenerator<{ org_id: string; agent_id: string }> {
  const pacer = typeof options.pace === 'number' ? new Pacer(options.pace) : options.pace;
  const limit = pLimit(options.concurrency);
  const where = options.where ?? [];
  for (const org of options.orgs) {
    let listed = 0;
    let matched = 0;
    for (let page = 1; ; page++) {
      await pacer.take();
      const result = await options.client.listAgentsPage(org, page, { size: 100, ...(options.type ? { type: options.type } : {}), ...(options.search ? { search: options.search } : {}) });
      listed += result.data.length;
      const problems = result.data.map((summary) => idProblem(summary.id));
      // The page's agents are read side by side, and yielded in list order.
      const kept = await Promise.all(
        result.data.map((summary, i) =>
          problems[i] !== undefined
            ? Promise.resolve(false)
            : where.length === 0
            ? Promise.resolve(true)
            : limit(async () => {
                await pacer.take();
                return matches(await options.client.getAgent(org, summary.id), where);
              }),
        ),
      );
      for (let i = 0; i < result.data.length; i++) {
        if (problems[i] !== undefined) options.onBadId?.(org, String(result.data[i]!.id), problems[i]!);
        if (!kept[i]) continue;
        matched++;
        yield { org_id: org, agent_id: result.data[i]!.id };
      }
      options.onProgress?.(org, listed, matched);
      if (page >= result.meta.total_pages || result.data.length === 0) break;
    }
  }
}
