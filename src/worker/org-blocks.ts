/**
 * Auth refusals block one org, not the batch (SPEC §10): after AUTH_FAILURES_TO_HALT refusals of an
 * org's key its agents wait, pending, and the other orgs go on. Only when nothing else is left does the
 * batch halt (`bad_credentials`, naming the orgs); `resume`, once the keys are fixed, lifts the blocks.
 */
import { halt } from '../batch/halt.js';
import { FROM } from '../batch/lifecycle.js';
import type { BatchStore } from '../store/batch-store.js';
import { pauseQueueWhile } from '../store/job-queue.js';

/** 401/403s for one org within a batch before that org is blocked: a bad key must not burn through it. */
export const AUTH_FAILURES_TO_HALT = 3;

/** How long a blocked org's job sleeps before it looks again (resume wakes them at once). */
export const ORG_BLOCKED_WAIT_MS = 30_000;

/** Halts a running batch whose only pending agents are those of blocked orgs. Returns whether it did. */
export async function haltIfOnlyBlockedLeft(store: BatchStore, batchId: string): Promise<boolean> {
  const meta = await store.getBatch(batchId);
  if (!meta || meta.status !== 'running' || !meta.blockedOrgs) return false;
  const reason = blockedHalt(meta.blockedOrgs, await store.pendingOutside(batchId, Object.keys(meta.blockedOrgs)));
  if (reason === undefined) return false;
  if (!(await store.transition(batchId, 'halted', FROM.authHalt, { haltReason: reason }))) return false;
  await pauseQueueWhile(store, batchId, 'halted');
  return true;
}

/**
 * The bad_credentials halt reason when nothing but the blocked orgs' agents is left (`othersPending`
 * 0), naming them and the server's words; undefined while another org still has work (or the count is
 * not known). Pure.
 */
export function blockedHalt(blockedOrgs: Readonly<Record<string, string>>, othersPending: number | undefined): string | undefined {
  const orgs = Object.keys(blockedOrgs);
  if (orgs.length === 0 || othersPending === undefined || othersPending > 0) return undefined;
  const said = Object.entries(blockedOrgs).slice(0, 5).map(([org, message]) => `${org}: ${message}`).join('; ');
  return halt('bad_credentials', `the API refused the key of ${orgs.length > 1 ? `orgs ${orgs.join(', ')}` : `org ${orgs[0]}`} (${said}); their agents stay pending — fix the key, then resume`);
}
