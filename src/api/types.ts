/**
 * Shapes of what the Nova API returns (SPEC §2). Object fields are arbitrary JSON: the vendor's docs
 * render them as `integer[]`, an artefact of its doc generator, so nothing here narrows them, and
 * snapshots keep them exactly (deep-equal).
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A whole agent as returned by GET or PATCH. `id` is the only key the client insists on. */
export interface Agent {
  id: string;
  organization_id?: string;
  [field: string]: Json | undefined;
}

/** One row of `GET /org/{org_id}/agents`. */
export interface AgentSummary {
  id: string;
  name?: string;
  type?: string;
  created_at?: string;
  updated_at?: string;
}

export interface AgentPage {
  data: AgentSummary[];
  meta: { page: number; size: number; total: number; total_pages: number };
}

/** A row of an org's calls list (SPEC §14): what the calls gate reads; anything else is passed over. */
export interface CallRow {
  id: string;
  initial_agent_id?: string;
  /** `completed`, `failed`, `no-answer`, `busy`, `in-progress`, … */
  status?: string;
  started_at?: string;
  ended_at?: string | null;
}

export interface CallPage {
  data: CallRow[];
  meta: { page: number; size: number; total: number; total_pages: number };
}

/** How the key is sent: `X-API-Key` (the vendor page) or `Authorization: Bearer` (its SDK). */
export type AuthScheme = 'x-api-key' | 'bearer';
