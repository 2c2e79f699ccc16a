/**
 * The list endpoint's `updated_at` of an org's agents, as fresh as `freshness` allows (SPEC §15): an
 * applied plan's agent whose list row, read at most that long ago, still shows the time the plan read it
 * at has not moved since — its PATCH goes without a GET. An org's list is read page by page (100 rows a
 * request, within the batch's budget), each row stamped with when its page came; one read of an org at a
 * time, the others waiting for it. An agent not on the list (offset paging skips rows while agents come
 * and go) or on a page read too long ago is not confirmed: its job reads it with a GET, as always.
 */
import type { AgentPage } from '../api/types.js';

interface OrgRows {
  rows: Map<string, { updatedAt: string | undefined; at: number }>;
  /** When the last complete read of the org started. */
  readAt: number;
  reading?: Promise<void> | undefined;
}

export class FreshRows {
  readonly #orgs = new Map<string, OrgRows>();

  constructor(
    private readonly readPage: (orgId: string, page: number) => Promise<AgentPage>,
    private readonly freshnessMs: () => number,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** The agent's `updated_at` from a list row read within the freshness window, or undefined. */
  async updatedAt(orgId: string, agentId: string): Promise<string | undefined> {
    const fresh = () => {
      const row = this.#orgs.get(orgId)?.rows.get(agentId);
      return row && this.now() - row.at <= this.freshnessMs() ? row : undefined;
    };
    const known = fresh();
    if (known) return known.updatedAt;
    await this.#read(orgId);
    return fresh()?.updatedAt;
  }

  /** Reads the org's list again — unless a read is on its way (joined) or one began within the window. */
  #read(orgId: string): Promise<void> {
    let org = this.#orgs.get(orgId);
    if (!org) this.#orgs.set(orgId, (org = { rows: new Map(), readAt: -Infinity }));
    if (org.reading) return org.reading;
    if (this.now() - org.readAt <= this.freshnessMs()) return Promise.resolve(); // read lately: not on it
    const target = org;
    target.reading = (async () => {
      const started = this.now();
      for (let page = 1; ; page++) {
        const result = await this.readPage(orgId, page);
        const at = this.now();
        for (const row of result.data) target.rows.set(row.id, { updatedAt: typeof row.updated_at === 'string' ? row.updated_at : undefined, at });
        if (page >= result.meta.total_pages || result.data.length === 0) break;
      }
      target.readAt = started;
    })().finally(() => (target.reading = undefined));
    return target.reading;
  }
}
