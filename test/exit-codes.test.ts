/** `run`'s exit code (SPEC §6, §13) from the batch it ended with: a pure function, every case. */
import { describe, expect, it } from 'vitest';
import type { BatchView } from '../src/views/batch-view.js';
import { exitCodeOf } from '../src/ops/run.js';
import { AGENT_STATUSES } from '../src/batch/lifecycle.js';
import type { BatchMeta, Counts } from '../src/batch/records.js';

function view(meta: Partial<BatchMeta>, counts: Partial<Counts> = {}): BatchView {
  const all = Object.fromEntries(AGENT_STATUSES.map((s) => [s, counts[s] ?? 0])) as Counts;
  return {
    meta: { id: 'b', kind: 'rollout', manifest: 'm', digest: 'd', createdAt: 0, status: 'completed', total: 10, enqueued: true, options: { rate: 1, attempts: 1, backoffMs: 1, backoffCapMs: 1 }, ...meta },
    counts: all,
    done: 10,
    rate: 1,
    etaSeconds: undefined,
    topFailures: [],
    attention: [],
    requests: { get: 0, patch: 0, list: 0, calls: 0, total: 0 },
  };
}

describe('exitCodeOf', () => {
  it('0 only when every agent ended as the manifest says', () => {
    expect(exitCodeOf(view({}, { applied: 8, unchanged: 2 }), false)).toBe(0);
  });
  it('1 for failures, conflicts, skipped agents, a halt by a gate, a cancel, a deadline, an interruption', () => {
    expect(exitCodeOf(view({ status: 'completed_with_failures' }, { applied: 9, failed: 1 }), false)).toBe(1);
    expect(exitCodeOf(view({}, { restored: 9, conflict: 1 }), false)).toBe(1);
    expect(exitCodeOf(view({ status: 'cancelled', haltReason: 'deadline_passed: 2026-12-07T05:00:00.000Z; agents not yet tried were skipped' }, { applied: 4, skipped: 6 }), false)).toBe(1);
    expect(exitCodeOf(view({ status: 'cancelled' }, { applied: 10 }), false)).toBe(1);
    expect(exitCodeOf(view({ status: 'halted', haltReason: 'error_budget: 3 agents failed, 2 allowed' }), false)).toBe(1);
    expect(exitCodeOf(view({ status: 'running' }, { applied: 3, pending: 7 }), true)).toBe(1);
  });
  it('3 when the batch stopped for infrastructure: a refused key, an API that is down', () => {
    expect(exitCodeOf(view({ status: 'halted', haltReason: 'bad_credentials: the API refused the key repeatedly (401/403)' }), false)).toBe(3);
    expect(exitCodeOf(view({ status: 'halted', haltReason: 'api_unreachable: no request succeeded for 60 s (last: …)' }), false)).toBe(3);
  });
});
