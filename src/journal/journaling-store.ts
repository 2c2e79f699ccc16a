/**
 * The processor's store with the journal beside it (journal.ts): an agent's first before snapshot is
 * appended to the journal once Redis has it and before its PATCH can be sent; a change, once recorded.
 * The processor is unchanged — it sees the same narrow store (ProcessorStore).
 */
import type { ProcessorStore } from '../worker/job-ports.js';
import type { BatchMeta } from '../batch/records.js';
import type { Journal } from './journal.js';

const CHANGED = new Set(['applied', 'restored']);

export function journaling(store: ProcessorStore, journal: Journal, meta: () => BatchMeta): ProcessorStore {
  const noted = async (key: string, to: string, record: Parameters<ProcessorStore['finish']>[4]) => {
    if (CHANGED.has(to) && record.before && record.after && record.changed?.length) await journal.changed(meta(), key, to as 'applied', record.changed, record.after);
  };
  return {
    beginWithLease: (...args) => store.beginWithLease(...args),
    releaseLease: (...args) => store.releaseLease(...args),
    leasedElsewhere: (...args) => store.leasedElsewhere(...args),
    agentRecord: (...args) => store.agentRecord(...args),
    uncountAttempt: (...args) => store.uncountAttempt(...args),
    noteError: (...args) => store.noteError(...args),
    loadBefore: (...args) => store.loadBefore(...args),
    saveBefore: async (batchId, key, agent) => {
      const saved = await store.saveBefore(batchId, key, agent);
      if (saved.first) await journal.before(meta(), key, agent);
      return saved;
    },
    finish: async (batchId, key, to, from, record) => {
      const moved = await store.finish(batchId, key, to, from, record);
      if (moved) await noted(key, to, record);
      return moved;
    },
    finishAndRelease: async (batchId, key, to, from, record) => {
      const result = await store.finishAndRelease(batchId, key, to, from, record);
      if (result.moved) await noted(key, to, record);
      return result;
    },
  };
}
