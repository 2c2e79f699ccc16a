/**
 * Every agent's history (SPEC §16): which batches snapshotted it, and when. An org's agents share 256
 * sorted sets (keys.ts `history`), each entry `<agent id>/<batch id>` scored with the time the batch
 * first snapshotted the agent — written beside the before snapshot's Lua step (agent-records.ts), joined
 * by an import, left by a prune. Read back as untrusted. A part of the store over its connection.
 */
import type { ScriptClient } from './scripts.js';
import { scanKeys } from './connect.js';
import { BATCH_ID, agentKey, escapeGlob, historyMember, splitAgentKey, type Keys } from './keys.js';

/** A batch that snapshotted an agent, and when it first did (ms). */
export interface HistoryMark {
  batchId: string;
  at: number;
}

/** An agent (its key) and the batches that snapshotted it. */
export interface AgentMarks {
  key: string;
  marks: HistoryMark[];
}

/**
 * A bucket's entries (member, score, member, score…) by agent id, each agent's oldest first. Read back
 * as untrusted: an entry whose batch id is malformed or whose time is not a number names nothing.
 */
function historyMarks(flat: readonly string[]): Map<string, HistoryMark[]> {
  const out = new Map<string, HistoryMark[]>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const member = flat[i]!;
    const slash = member.indexOf('/');
    const batchId = member.slice(slash + 1);
    const at = Number(flat[i + 1]);
    if (slash <= 0 || !BATCH_ID.test(batchId) || !Number.isFinite(at)) continue;
    const agentId = member.slice(0, slash);
    const list = out.get(agentId) ?? [];
    list.push({ batchId, at });
    out.set(agentId, list);
  }
  for (const list of out.values()) list.sort((a, b) => a.at - b.at);
  return out;
}

export class HistoryIndex {
  constructor(
    private readonly redis: ScriptClient,
    private readonly keys: Keys,
  ) {}

  /** The batches that snapshotted an agent, oldest first, with when. */
  async of(key: string): Promise<HistoryMark[]> {
    const bucket = this.keys.history(key);
    const { agentId } = splitAgentKey(key);
    const flat: string[] = [];
    let cursor = '0';
    do {
      const [next, page] = await this.redis.zscan(bucket, cursor, 'MATCH', `${escapeGlob(agentId)}/*`, 'COUNT', 1000);
      flat.push(...page);
      cursor = next;
    } while (cursor !== '0');
    return historyMarks(flat).get(agentId) ?? [];
  }

  /**
   * Every agent with a history (of `orgId` only, if given), a bucket at a time, with its marks: one
   * read per bucket rather than one per agent.
   */
  async *entries(orgId?: string): AsyncGenerator<AgentMarks[]> {
    const head = `${this.keys.prefix}:history:{`;
    for await (const keys of scanKeys(this.redis, `${escapeGlob(head)}${orgId ? escapeGlob(orgId) : '*'}#*}`)) {
      for (const bucket of keys) {
        const tag = bucket.startsWith(head) && bucket.endsWith('}') ? bucket.slice(head.length, -1) : '';
        const org = tag.slice(0, tag.lastIndexOf('#'));
        if (!org || (orgId !== undefined && org !== orgId)) continue;
        const marks = historyMarks(await this.redis.zrange(bucket, '0', '-1', 'WITHSCORES'));
        yield [...marks].map(([agentId, list]) => ({ key: agentKey(org, agentId), marks: list }));
      }
    }
  }

  /** Drops a batch from its agents' histories (a prune). */
  async forget(batchId: string, keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((key) => this.redis.zrem(this.keys.history(key), historyMember(key, batchId))));
  }
}
