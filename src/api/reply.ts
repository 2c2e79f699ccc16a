/**
 * Reading the API's replies: the server's own explanation of an error, headers, the shapes a reply must
 * have, and the hidden mark of fields in which the key was found and replaced. Pure.
 */
import { printable } from '../printable.js';
import type { Agent, AgentPage, CallPage } from './types.js';

export function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The server's explanation from an error body (`detail`, `message` or `error` of JSON, else the text),
 * whole: the caller redacts it and only then cuts it (a key at the cut must not survive in part).
 */
export function serverMessage(body: string): string | undefined {
  // Bodies are bounded by got's response; the explanation of any sane error fits in 64 KB.
  const text = body.length > 65_536 ? body.slice(0, 65_536) : body;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return text.trim() === '' ? undefined : text.trim();
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  for (const key of ['detail', 'message', 'error']) {
    const value = (parsed as Record<string, unknown>)[key];
    if (typeof value === 'string') return value;
    if (value !== undefined) return JSON.stringify(value);
  }
  return undefined;
}

/** The top-level fields of an agent as the API sent it in which the key was found and replaced. */
const REDACTED_FIELDS = Symbol('nova-fleet.redactedFields');

export function redactedFields(agent: object): readonly string[] {
  return (agent as { [REDACTED_FIELDS]?: string[] })[REDACTED_FIELDS] ?? [];
}

/** Marks the fields of a reply in which the key was replaced (a hidden property: never serialised). */
export function markRedacted<T extends object>(agent: T, fields: readonly string[]): T {
  Object.defineProperty(agent, REDACTED_FIELDS, { value: fields, enumerable: false });
  return agent;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isAgent(value: unknown): value is Agent {
  return isObject(value) && typeof value.id === 'string';
}

export function isAgentPage(value: unknown): value is AgentPage {
  return (
    isObject(value) &&
    Array.isArray(value.data) &&
    isObject(value.meta) &&
    typeof value.meta.total_pages === 'number'
  );
}

/** A calls page: its rows are objects with an id (anything else in a row is read, checked, where it is used). */
export function isCallPage(value: unknown): value is CallPage {
  return isAgentPage(value) && (value.data as unknown[]).every((row) => isObject(row) && typeof row.id === 'string');
}

/**
 * Why a reply to a request for `orgId/agentId` is about another agent, or undefined. Its `id` must be
 * the agent's; its `organization_id`, when the reply has one, the org's (compared as text: an API may
 * send numbers).
 */
export function otherAgent(orgId: string, agentId: string): (agent: Agent) => string | undefined {
  return (agent) => {
    if (agent.id !== agentId) return `the reply is for agent ${printable(String(agent.id)).slice(0, 80)}, not ${printable(agentId)}`;
    const org = agent.organization_id;
    if (org !== undefined && org !== null && String(org) !== orgId) return `the reply is for an agent of org ${printable(String(org)).slice(0, 80)}, not ${printable(orgId)}`;
    return undefined;
  };
}
