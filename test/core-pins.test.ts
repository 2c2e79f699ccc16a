/**
 * Pins on the pure core, written from what `npm run mutate` (StrykerJS) showed surviving: boundaries,
 * exact messages, trimming, and the helpers no other test called directly.
 */
import { encodeChange } from '../src/store/meta-codec.js';
import { rolloutControls } from '../src/batch/controls.js';
import { GATE_HALTS, HALT_KINDS, HALT_POLICY, INFRA_HALTS } from '../src/batch/halt.js';
import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../src/api/retry-after.js';
import { parseBudget, parseDuration, parseWaves, resolveBudget, waveOf } from '../src/batch/waves.js';
import { parseWindow, scheduleState } from '../src/batch/window.js';
import { carriesDesired, diffValues, replaceWarnings } from '../src/patch/desired.js';
import { setOwn } from '../src/patch/merge.js';
import { applyReplace, looksCatastrophic, MAX_VALUE_BYTES, regexMatches } from '../src/patch/replace.js';
import { changedStatus, conflictingFields, restoration } from '../src/ops/create-rollback.js';
import type { AgentRecord } from '../src/batch/records.js';

describe('scheduleState: boundaries and precedence', () => {
  const T = Date.UTC(2026, 11, 5, 3, 0, 0); // Saturday 03:00 UTC
  it('the deadline is inclusive and wins over everything', () => {
    expect(scheduleState({ deadline: T }, T)).toBe('past_deadline');
    expect(scheduleState({ deadline: T }, T - 1)).toBe('open');
    expect(scheduleState({ deadline: T, startAt: T + 10, window: '10:00-11:00 UTC' }, T)).toBe('past_deadline');
  });
  it('the start is inclusive; before it, not yet (even inside the window)', () => {
    expect(scheduleState({ startAt: T }, T)).toBe('open');
    expect(scheduleState({ startAt: T }, T - 1)).toBe('not_yet');
    expect(scheduleState({ startAt: T + 1, window: '02:00-04:00 UTC' }, T)).toBe('not_yet');
  });
  it('outside the window: closed; inside: open; nothing set: open', () => {
    expect(scheduleState({ window: '04:00-05:00 UTC' }, T)).toBe('closed');
    expect(scheduleState({ window: '02:00-04:00 UTC' }, T)).toBe('open');
    expect(scheduleState({}, T)).toBe('open');
  });
});

describe('parseWindow: exact messages', () => {
  it.each([
    ['02:00-25:00 UTC', '--window: "25:00" is not a time such as 02:00'],
    ['02:00-24:01 UTC', '--window: "24:01" is past 24:00'],
    ['02:00-03:60 UTC', '--window: "03:60" is not a time such as 02:00'],
    ['02:00 UTC', '--window: "02:00" is not a range such as 02:00-04:00'],
    ['02:00-03:00-04:00 UTC', '--window: "02:00-03:00-04:00" is not a range such as 02:00-04:00'],
    ['Sun,Xyz 02:00-04:00 UTC', '--window: "Xyz" is not a day (Mon … Sun)'],
    ['02:00-04:00 Mars/Olympus', '--window: "Mars/Olympus" is not an IANA time zone (e.g. Europe/Berlin, UTC)'],
    ['02:00-02:00 UTC', '--window: the window opens and closes at the same time'],
    ['a b c d', '--window: "a b c d" is not of the form "[DAYS] HH:MM-HH:MM ZONE", e.g. "Sat,Sun 02:00-04:00 Europe/Berlin"'],
  ])('%s', (text, message) => {
    expect(() => parseWindow(text)).toThrow(new RangeError(message));
  });
  it('days parse by their first three letters, whole names too', () => {
    expect([...parseWindow('Saturday,sun 02:00-04:00 UTC').days!]).toEqual([5, 6]);
  });
});

describe('rollout controls', () => {
  it('waves: trimmed parts, percentages and counts, exact errors', () => {
    expect(parseWaves(' 1 , 5% ,, 100% ')).toEqual([{ kind: 'count', n: 1 }, { kind: 'percent', p: 5 }, { kind: 'percent', p: 100 }]);
    expect(parseWaves('12.5%')).toEqual([{ kind: 'percent', p: 12.5 }]);
    expect(() => parseWaves('0%')).toThrow('--waves: "0%" must be above 0% and at most 100%');
    expect(() => parseWaves('100.5%')).toThrow('--waves: "100.5%" must be above 0% and at most 100%');
    for (const bad of ['x5', '5x', '5%x', 'x5%', '1.5', '0', '-5']) expect(() => parseWaves(bad), bad).toThrow(`--waves: "${bad}" is neither a number of agents (5) nor a percentage (25%)`);
    expect(() => parseWaves(' , ')).toThrow('--waves: give cumulative targets such as 1,5%,25%,100%');
  });
  it('budget: 0 allowed, N or P%, floor of the share', () => {
    expect(parseBudget(' 0 ')).toEqual({ kind: 'count', n: 0 });
    expect(parseBudget(' 2% ')).toEqual({ kind: 'percent', p: 2 });
    expect(resolveBudget({ kind: 'percent', p: 2 }, 149)).toBe(2);
    expect(resolveBudget({ kind: 'count', n: 7 }, 3)).toBe(7);
    expect(() => parseBudget('x')).toThrow('--max-failures: "x" is neither');
  });
  it('durations: units, decimals, trimmed, nothing else', () => {
    expect(parseDuration(' 1.5h ')).toBe(5_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2d')).toBe(172_800_000);
    for (const bad of ['10', 'm10', '10mx', 'x10m', '1.h']) expect(() => parseDuration(bad), bad).toThrow(`"${bad}" is not a duration such as 30s, 10m or 1h`);
  });
  it('waveOf: by cumulative target; past the last, the last wave', () => {
    expect([0, 1, 4, 5, 9, 10, 99].map((i) => waveOf(i, [1, 5, 10]))).toEqual([0, 1, 1, 2, 2, 2, 2]);
  });
});

describe('Retry-After', () => {
  it('seconds, decimals, dates; nothing else', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(parseRetryAfter(' 12 ', now)).toBe(12_000);
    expect(parseRetryAfter('1.25', now)).toBe(1250);
    expect(parseRetryAfter('12.5', now)).toBe(12_500);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Thu, 01 Jan 2025 00:00:30 GMT', now)).toBe(0);
    for (const bad of [undefined, '', '  ', '10s', '-5', '1e3', 'soon', '12 34']) expect(parseRetryAfter(bad, now), String(bad)).toBeUndefined();
  });
});

describe('desired-state helpers', () => {
  it('carriesDesired names exactly the fields that still differ', () => {
    expect(carriesDesired({ a: 1, b: { x: 1 }, c: 'same' }, { a: 2, b: { x: 1 }, c: 'same' })).toEqual(['a']);
    expect(carriesDesired({ a: 1 }, {})).toEqual([]);
  });
  it('diffValues walks into objects with dotted paths, and reports keys on either side', () => {
    expect(diffValues({ a: 1, b: 2 }, { a: 1, c: 3 }, 'x')).toEqual([
      { path: 'x.b', before: 2 },
      { path: 'x.c', after: 3 },
    ]);
  });
  it('replaceWarnings: kinds, nested paths, flags honoured, plain values ignored', () => {
    const patch = {
      name: 'plain',
      prompt_template: { $replace: { find: 'Acme', with: 'Acme Corp' } },
      goodbye_config: { message: { $replace: { find: '(a+)+$', with: 'b', regex: true } } },
      greeting_config: { greeting: { $replace: { find: 'HI', with: 'hi there', regex: true, flags: 'i' } } },
      extra_config: { turn_detector_model_type: { $replace: { find: 'x', with: 'y' } } },
    };
    expect(replaceWarnings(patch as never).map((w) => [w.path, w.kind])).toEqual([
      ['prompt_template', 'not_idempotent'],
      ['goodbye_config.message', 'catastrophic'],
      ['greeting_config.greeting', 'not_idempotent'],
    ]);
  });
  it('setOwn defines __proto__ as an own, enumerable, writable value (never the prototype)', () => {
    const target: Record<string, unknown> = {};
    setOwn(target, '__proto__', { polluted: true });
    expect(Object.getPrototypeOf(target)).toBe(Object.prototype);
    expect(Object.keys(target)).toEqual(['__proto__']);
    target['__proto__'] = 1;
    expect(Object.getOwnPropertyDescriptor(target, '__proto__')).toMatchObject({ value: 1, enumerable: true, writable: true, configurable: true });
    setOwn(target, 'a', 2);
    expect(target.a).toBe(2);
  });
});

describe('bounded replace', () => {
  it('literal: every occurrence, `with` taken literally; the size bound is exact', () => {
    expect(applyReplace('a-a-a', { find: 'a', with: '$&b' })).toBe('$&b-$&b-$&b');
    const text = 'a'.repeat(1024);
    expect(applyReplace(text, { find: 'a', with: 'b'.repeat(1024) }).length).toBe(MAX_VALUE_BYTES);
    expect(() => applyReplace(text, { find: 'a', with: 'b'.repeat(1025) })).toThrow(`the result would be larger than ${MAX_VALUE_BYTES} bytes`);
  });
  it('regex: global, flags, $-references, and the bound counts what they insert', () => {
    expect(applyReplace('Acme acme', { find: 'acme', with: '[$&]', regex: true, flags: 'i' })).toBe('[Acme] [acme]');
    expect(applyReplace('ab', { find: '(a)(b)', with: '$2$1', regex: true })).toBe('ba');
    const text = 'a'.repeat(1024);
    expect(applyReplace(text, { find: 'a', with: 'b'.repeat(1024), regex: true }).length).toBe(MAX_VALUE_BYTES);
    expect(() => applyReplace(text, { find: 'a', with: 'b'.repeat(1025), regex: true })).toThrow('larger than');
    // `$'` may insert the rest of the text at every match: the bound assumes the worst.
    expect(() => applyReplace('x'.repeat(2048), { find: 'x', with: "$'", regex: true })).toThrow('larger than');
    expect(applyReplace('xy', { find: 'x', with: "[$']", regex: true })).toBe('[y]y');
  });
  it('regexMatches and looksCatastrophic', () => {
    expect(regexMatches('^ac', 'i', 'ACME')).toBe(true);
    expect(regexMatches('^ac', '', 'ACME')).toBe(false);
    expect(looksCatastrophic('(\\w+)*')).toBe(true);
    expect(looksCatastrophic('(\\d*){3,}')).toBe(true);
    expect(looksCatastrophic('(ab)+')).toBe(false);
    expect(looksCatastrophic('\\(a+\\)+')).toBe(false);
  });
});

describe('rollback planning (pure)', () => {
  const before = { id: 'a', name: 'Old', prompt_template: 'p1', vad_config: { sample_rate: 16000 } };
  const after = { id: 'a', name: 'New', prompt_template: 'p1', vad_config: { sample_rate: 8000 } };
  const record = (extra: Partial<AgentRecord> = {}): AgentRecord => ({ key: 'o/a', status: 'applied', attempts: 1, before, after, changed: ['name', 'vad_config'], ...extra });

  it('restores the touched fields to the before snapshot, expecting the after', () => {
    expect(restoration('b1', 'applied', record())).toEqual({
      kind: 'restore',
      desired: { name: 'Old', vad_config: { sample_rate: 16000 } },
      expected: { name: 'New', vad_config: { sample_rate: 8000 } },
      fields: ['name', 'vad_config'],
    });
  });
  it('no record of an agent the rollback was made for is a failure, never `unchanged` (the origin pruned or lost)', () => {
    expect(restoration('b1', 'applied', undefined)).toEqual({ kind: 'impossible', reason: 'batch b1 has no record of this agent any more (pruned, or lost from Redis): no before snapshot to restore it from' });
  });
  it('never restores a read-only field, whatever the record (an imported archive) names', () => {
    const named = record({ changed: ['id', 'organization_id', 'tools', 'name', 'updated_at'], before: { ...before, tools: [], organization_id: 'x', updated_at: 't0' }, after: { ...after, tools: [1], organization_id: 'y', updated_at: 't1' } });
    expect(restoration('b1', 'applied', named)).toEqual({ kind: 'restore', desired: { name: 'Old' }, expected: { name: 'New' }, fields: ['name'] });
    expect(restoration('b1', 'applied', record({ changed: ['id', 'tools'] })).kind).toBe('nothing');
  });
  it('nothing to do: another status, no snapshots, no changed fields', () => {
    for (const extra of [{ status: 'unchanged' as const }, { after: undefined }, { changed: [] }, { changed: undefined }]) {
      const plan = restoration('b1', 'applied', record(extra));
      expect(plan.kind, JSON.stringify(extra)).toBe('nothing');
    }
    expect(restoration('b1', 'applied', record({ status: 'failed', before: undefined }))).toEqual({ kind: 'nothing', reason: 'not changed by batch b1 (failed): nothing to roll back' });
    expect(restoration('b1', 'applied', record({ status: 'unchanged' })).kind).toBe('nothing');
  });
  it('checked, not trusted: an agent recorded failed, pending, skipped or conflict with a before snapshot (issue 25)', () => {
    for (const status of ['failed', 'pending', 'skipped', 'conflict'] as const) {
      const plan = restoration('b1', 'applied', record({ status }));
      expect(plan.kind, status).toBe('check');
      expect(plan, status).toMatchObject({ status, before: record({}).before });
    }
    expect(restoration('b1', 'restored', record({ status: 'applied' })).kind).toBe('nothing');
    expect(restoration('b1', 'restored', record({ status: 'restored' })).kind).toBe('restore');
  });
  it('impossible when an agent recorded changed has lost its before snapshot (evicted): never "nothing"', () => {
    expect(restoration('b1', 'applied', record({ before: undefined }))).toEqual({ kind: 'impossible', reason: 'batch b1 recorded this agent applied, but its before snapshot is missing (evicted or lost from Redis): nothing to restore it from' });
    expect(restoration('b1', 'restored', record({ status: 'restored', before: undefined })).kind).toBe('impossible');
  });
  it('impossible when a touched field was absent before (a PATCH cannot remove it)', () => {
    expect(restoration('b1', 'applied', record({ changed: ['name', 'llm_config', 'voice_config'] }))).toEqual({
      kind: 'impossible',
      reason: 'the agent had no llm_config, voice_config before batch b1, and a PATCH cannot remove a field',
    });
  });
  it('conflictingFields: the expected fields whose current value differs (deep)', () => {
    expect(conflictingFields({ ...after, name: 'Theirs' } as never, { name: 'New', vad_config: { sample_rate: 8000 } })).toEqual(['name']);
    expect(conflictingFields(after as never, { name: 'New', vad_config: { sample_rate: 8000 } })).toEqual([]);
  });
  it('changedStatus: applied for a rollout, restored for a rollback', () => {
    expect(changedStatus({ kind: 'rollout' } as never)).toBe('applied');
    expect(changedStatus({ kind: 'rollback' } as never)).toBe('restored');
  });
});

describe('meta changes (pure)', () => {
  it('MetaChange properties become the hash fields: null clears, flags are 1/0, numbers stay numbers', () => {
    expect(encodeChange({ haltReason: null, finishedAt: 5, force: true, enqueued: false, wave: 2, waveDoneAt: null, deadlinePassed: 'done', authFailures: 0, outageSince: null, maxFailures: null })).toEqual({
      halt_reason: '',
      finished_at: 5,
      force: '1',
      enqueued: '0',
      wave: 2,
      wave_done_at: '',
      deadline_passed: 'done',
      auth_failures: 0,
      outage_since: '',
      max_failures: '',
    });
    expect(encodeChange({ haltReason: undefined })).toEqual({});
  });
});

describe('halt policy (pure)', () => {
  it('infrastructure halts exit 3 and resume plainly; gate halts are what --auto-rollback undoes', () => {
    expect([...INFRA_HALTS].sort()).toEqual(['api_unreachable', 'bad_credentials', 'redis_full']);
    expect([...GATE_HALTS].sort()).toEqual(['calls_degraded', 'error_budget', 'verify_failed']);
    // Too few calls is no evidence of harm: it halts for a person, nothing is undone by itself.
    expect(HALT_POLICY.analysis_inconclusive).toMatchObject({ gate: false, infra: false, resume: 'gate' });
    for (const kind of HALT_KINDS) expect(HALT_POLICY[kind].infra && HALT_POLICY[kind].gate, kind).toBe(false);
  });
});

describe('a rollout\'s controls (pure)', () => {
  it('the calls gate: needs waves, its knobs need it, its defaults (10m bake, timeout 3 bakes, 5 points as 0.05), and it holds completion', () => {
    expect(() => rolloutControls({ gate: 'calls' }, 10)).toThrow('--gate calls judges each wave against the agents not yet changed: give --waves too');
    expect(() => rolloutControls({ waves: parseWaves('50%'), maxDrop: 3 }, 10)).toThrow('--max-drop sets the calls gate: give --gate calls too');
    expect(() => rolloutControls({ waves: parseWaves('50%'), gateMaxPages: 3 }, 10)).toThrow('--gate-max-pages sets the calls gate');
    expect(() => rolloutControls({ waves: parseWaves('50%'), gate: 'calls', maxDrop: 100 }, 10)).toThrow('--max-drop 100');
    expect(() => rolloutControls({ waves: parseWaves('50%'), gate: 'calls', confidence: 0.3 }, 10)).toThrow('--confidence 0.3');
    expect(rolloutControls({ waves: parseWaves('10%,100%'), gate: 'calls', autoRollback: true }, 20)).toEqual({
      waves: [2, 20],
      bakeMs: 600_000,
      autoRollback: true,
      gate: { kind: 'calls', maxDrop: 0.05, confidence: 0.95, minCalls: 100, timeoutMs: 1_800_000, maxPages: 50 },
      holdCompletion: true,
    });
    expect(rolloutControls({ waves: parseWaves('10%,100%'), gate: 'calls', bake: 60_000, maxDrop: 2.5, confidence: 0.99, minCalls: 400, gateTimeout: 90_000, gateMaxPages: 5 }, 20).gate).toEqual({ kind: 'calls', maxDrop: 0.025, confidence: 0.99, minCalls: 400, timeoutMs: 90_000, maxPages: 5 });
  });


  it('refuses a flag that needs another, naming both; resolves waves and the budget for the batch size', () => {
    expect(() => rolloutControls({ bake: 60_000 }, 10)).toThrow('--bake and --approve act between waves: give --waves too');
    expect(() => rolloutControls({ autoRollback: true }, 10)).toThrow('--auto-rollback acts when the error budget is exceeded or the calls gate fails: give --max-failures or --gate calls too');
    expect(() => rolloutControls({ verifyEnv: ['TOKEN'] }, 10)).toThrow('--verify-env names variables for --verify-cmd');
    expect(() => rolloutControls({ deadline: 1_000, startAt: 2_000 }, 10, 0)).toThrow('--deadline must come after --start-at');
    expect(() => rolloutControls({ deadline: 1_000 }, 10, 5_000)).toThrow('has already passed');
    expect(rolloutControls({ waves: parseWaves('1,50%'), maxFailures: parseBudget('10%'), autoRollback: true, notify: 'https://hooks.example/x' }, 20)).toEqual({ waves: [1, 10, 20], maxFailures: 2, autoRollback: true, notifyUrl: 'https://hooks.example/x' });
  });
});

