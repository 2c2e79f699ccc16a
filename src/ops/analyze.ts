/**
 * `analyze BATCH` (SPEC §14): a batch's calls-gate judgements as kept, wave by wave — and, for any
 * batch, a judgement made now: its changed agents' calls since their last change against the agents it
 * did not change (or, if it changed them all, against their own calls before the change), read within
 * `--rate` and judged with the batch's gate rule or the defaults.
 */
import type { CallsGate } from '../batch/records.js';
import { GATE_DEFAULTS } from '../batch/controls.js';
import type { WaveAnalysis } from '../batch/wave-analysis.js';
import { analyseWave, storedAnalyses, type CallsReader } from '../controller/calls-gate.js';
import { Pacer } from '../plan/pacer.js';
import { apiClient } from './api-context.js';
import { openStore, type ApiFlags, type RedisFlags } from './context.js';
import type { Notes } from './notes.js';
import { requireBatch } from './require-batch.js';

export interface AnalyzeFlags extends RedisFlags, ApiFlags {
  /** Only what the batch kept: no calls read now. */
  kept?: boolean;
  maxDrop?: number;
  confidence?: number;
  minCalls?: number;
  gateMaxPages?: number;
}

export interface AnalyzeResult {
  batchId: string;
  /** The rule the batch was gated by, or null for a batch run without one. */
  gate: CallsGate | null;
  /** The judgements the batch kept, one per wave judged. */
  waves: WaveAnalysis[];
  /** The judgement made now (absent with `kept`, or when the batch changed no agent). */
  now?: WaveAnalysis;
}

/** Agents a batch did not change: the control of a judgement made after the fact. */
const NOT_CHANGED: ReadonlySet<string> = new Set(['pending', 'failed', 'skipped', 'conflict']);

export async function analyzeBatch(batchId: string, flags: AnalyzeFlags, notes: Notes): Promise<AnalyzeResult> {
  const ctx = await openStore(flags, { readOnly: true });
  try {
    const meta = await requireBatch(ctx.store, batchId);
    const waves = await storedAnalyses(ctx.store, batchId);
    const result: AnalyzeResult = { batchId, gate: meta.gate ?? null, waves };
    if (flags.kept || (await ctx.store.counts(batchId)).applied === 0) return result;
    const rule: CallsGate = {
      kind: 'calls',
      maxDrop: flags.maxDrop !== undefined ? flags.maxDrop / 100 : (meta.gate?.maxDrop ?? GATE_DEFAULTS.maxDropPoints / 100),
      confidence: flags.confidence ?? meta.gate?.confidence ?? GATE_DEFAULTS.confidence,
      minCalls: flags.minCalls ?? meta.gate?.minCalls ?? GATE_DEFAULTS.minCalls,
      timeoutMs: 0,
      maxPages: flags.gateMaxPages ?? meta.gate?.maxPages ?? GATE_DEFAULTS.maxPages,
    };
    const client = apiClient(ctx.config, undefined, (line) => notes.note(line));
    const pacer = new Pacer(ctx.config.rate);
    const reader: CallsReader = {
      async page(orgId, interval, page) {
        await pacer.take();
        return client.listCallsPage(orgId, interval, page);
      },
    };
    try {
      const now = await ctx.store.now();
      // Since the batch's end (or its start, if it has not ended): every change it made is before that.
      const since = meta.finishedAt ?? meta.createdAt;
      notes.note(`analyze: reading the calls of batch ${batchId}'s orgs since ${new Date(since).toISOString()} at up to ${ctx.config.rate} requests/s…`);
      result.now = await analyseWave(ctx.store, { ...meta, gate: rule, waveDoneAt: since }, (meta.waves?.length ?? 1) - 1, reader, now, NOT_CHANGED);
    } finally {
      client.close();
    }
    return result;
  } finally {
    ctx.close();
  }
}
