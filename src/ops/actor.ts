/**
 * Who is acting (SPEC §16): `NOVA_FLEET_ACTOR`, else `user@host` of this process — recorded with every
 * action in the audit log (store/audit-log.ts), and with a batch as its submitter (`--four-eyes`).
 * Printable and bounded: it is shown to other operators.
 */
import os from 'node:os';
import { printable } from '../printable.js';
import type { BatchStore } from '../store/batch-store.js';

export function actorName(env: NodeJS.ProcessEnv = process.env): string {
  const named = env.NOVA_FLEET_ACTOR?.trim();
  if (named) return printable(named).slice(0, 200);
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    user = env.USER ?? env.USERNAME ?? 'unknown';
  }
  return printable(`${user}@${os.hostname()}`).slice(0, 200);
}

/** What an operator's command did, into the audit log: `submit`, `pause`, `rollback`, … */
export async function recordAction(store: BatchStore, action: string, what: { batch?: string; reason?: string | undefined; detail?: string } = {}): Promise<void> {
  await store.audit.append({ actor: actorName(), action, ...(what.batch ? { batch: what.batch } : {}), ...(what.reason ? { reason: printable(what.reason) } : {}), ...(what.detail ? { detail: what.detail } : {}) });
}
