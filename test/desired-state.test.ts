/**
 * desiredState (SPEC §4), by example and by property: random agents from the mock's generator and
 * random patches drawn from the field catalogue itself.
 */
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { Json } from '../src/api/types.js';
import { generateFleet } from '../src/mock/fleet.js';
import { applyReplace, desiredState, type FieldChange } from '../src/patch/desired.js';
import { WRITABLE_FIELDS, type LeafSpec } from '../src/patch/fields.js';
import { composePatches, mergePatch } from '../src/patch/merge.js';
import { checkRowPatch } from '../src/patch/row-patch.js';
import { validateField } from '../src/patch/schema.js';
import type { ResolvedPatch } from '../src/patch/types.js';

const agents = [...generateFleet({ agents: 12, orgs: 2, seed: 42, promptBytes: 600 }).agents.values()];

function leafArb(spec: LeafSpec): fc.Arbitrary<Json> {
  switch (spec.kind) {
    case 'string':
      return fc.string({ maxLength: 20 });
    case 'boolean':
      return fc.boolean();
    case 'enum':
      return fc.constantFrom(...spec.values);
    case 'string[]':
      return fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 });
    case 'array':
      return fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 5 })), { maxLength: 3 });
    case 'number': {
      const min = spec.min ?? -1000;
      const max = spec.max ?? 100_000;
      const n = spec.int ? fc.integer({ min: Math.ceil(min), max }) : fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
      return spec.minExclusive ? n.filter((v) => v > min) : n;
    }
  }
}

/** A random valid row patch (merge patch, possibly with nulls and $replace), from the catalogue. */
const patchArb: fc.Arbitrary<ResolvedPatch> = fc
  .subarray(Object.keys(WRITABLE_FIELDS), { minLength: 1, maxLength: 5 })
  .chain((fields) =>
    fc.record(
      Object.fromEntries(
        fields.map((field) => {
          const spec = WRITABLE_FIELDS[field]!;
          if (spec.kind === 'object') {
            const keys = Object.keys(spec.keys);
            return [field, fc.subarray(keys, { minLength: 1 }).chain((ks) => fc.record(Object.fromEntries(ks.map((k) => [k, fc.option(leafArb(spec.keys[k]!), { nil: null, freq: 4 })]))))];
          }
          if (spec.kind === 'freeform') {
            // `extra`: a key outside the SDK's list (what --allow-unknown-keys lets through), arbitrary JSON.
            return [field, fc.record({ extra: fc.option(fc.oneof(fc.integer(), fc.string({ maxLength: 6 }), fc.record({ deep: fc.integer() })), { nil: null }) })];
          }
          if (spec.kind === 'string') {
            return [field, fc.oneof(leafArb(spec), fc.record({ $replace: fc.record({ find: fc.constantFrom('Acme', 'the', 'a', 'zzz'), with: fc.string({ maxLength: 6 }) }) }))];
          }
          return [field, leafArb(spec)];
        }),
      ),
    ),
  ) as fc.Arbitrary<ResolvedPatch>;

const agentArb = fc.constantFrom(...agents);
const hasReplace = (patch: ResolvedPatch) => JSON.stringify(patch).includes('"$replace"');

function getPath(value: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' && Object.hasOwn(v, k) ? (v as Record<string, unknown>)[k] : undefined), value);
}

describe('desiredState: properties', () => {
  it('generated patches pass the manifest checks (the arbitraries are realistic)', () => {
    fc.assert(
      fc.property(patchArb, (patch) => {
        expect(checkRowPatch(patch, { allowUnknownKeys: true }).errors).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('PATCHing the body (top-level replacement, as the API does) gives the desired value of every touched field', () => {
    fc.assert(
      fc.property(agentArb, patchArb, (agent, patch) => {
        const result = desiredState(agent, patch);
        if (!result.ok) return;
        const after = { ...agent, ...result.body };
        for (const [field, value] of Object.entries(result.desired)) expect(after[field]).toEqual(value);
        for (const field of Object.keys(agent)) if (!Object.hasOwn(patch, field)) expect(after[field]).toEqual(agent[field]);
      }),
      { numRuns: 300 },
    );
  });

  it('sends only fields that differ, and every one that does', () => {
    fc.assert(
      fc.property(agentArb, patchArb, (agent, patch) => {
        const result = desiredState(agent, patch);
        if (!result.ok) return;
        for (const [field, value] of Object.entries(result.desired)) {
          expect(Object.hasOwn(result.body, field)).toBe(!isDeepStrictEqual(agent[field], value));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the leaf diff is consistent with the merge: every change is real, and nothing else differs', () => {
    fc.assert(
      fc.property(agentArb, patchArb, (agent, patch) => {
        const result = desiredState(agent, patch);
        if (!result.ok) return;
        const paths = new Set(result.changes.map((c: FieldChange) => c.path));
        for (const change of result.changes) {
          expect(getPath(agent, change.path)).toEqual(change.before);
          expect(getPath(result.desired, change.path)).toEqual(change.after);
          expect(change.before).not.toEqual(change.after);
        }
        for (const field of Object.keys(result.desired)) {
          const untouched = ![...paths].some((p) => p === field || p.startsWith(`${field}.`));
          if (untouched) expect(result.desired[field]).toEqual(agent[field]);
        }
        expect(result.changes.length === 0).toBe(Object.keys(result.body).length === 0);
      }),
      { numRuns: 300 },
    );
  });

  it('is idempotent: applying it again to the result changes nothing (patches without $replace)', () => {
    fc.assert(
      fc.property(agentArb, patchArb, (agent, patch) => {
        fc.pre(!hasReplace(patch));
        const first = desiredState(agent, patch);
        if (!first.ok) return;
        const again = desiredState({ ...agent, ...first.body }, patch);
        expect(again).toMatchObject({ ok: true, body: {}, changes: [] });
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with RFC 7396 merge patch for object fields', () => {
    fc.assert(
      fc.property(agentArb, patchArb, (agent, patch) => {
        fc.pre(!hasReplace(patch));
        const result = desiredState(agent, patch);
        if (!result.ok) return;
        for (const [field, value] of Object.entries(patch)) {
          const spec = WRITABLE_FIELDS[field]!;
          const expected = spec.kind === 'object' || spec.kind === 'freeform' ? mergePatch(agent[field], value) : value;
          expect(result.desired[field]).toEqual(expected);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('every desired value is one the API accepts, or the agent is refused with a reason', () => {
    fc.assert(
      fc.property(agentArb, patchArb, (agent, patch) => {
        const result = desiredState(agent, patch);
        if (result.ok) for (const [field, value] of Object.entries(result.desired)) expect(validateField(field, value)).toEqual([]);
        else expect(result.errors.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it('composing a row over defaults then applying equals applying defaults then the row (without $replace)', () => {
    fc.assert(
      fc.property(agentArb, patchArb, patchArb, (agent, defaults, rowPatch) => {
        fc.pre(!hasReplace(defaults) && !hasReplace(rowPatch));
        const composed = desiredState(agent, composePatches(defaults, rowPatch) as ResolvedPatch);
        const first = desiredState(agent, defaults);
        if (!composed.ok || !first.ok) return;
        const second = desiredState({ ...agent, ...first.body }, rowPatch);
        if (!second.ok) return;
        const sequential = { ...agent, ...first.body, ...second.body };
        expect({ ...agent, ...composed.body }).toEqual(sequential);
      }),
      { numRuns: 300 },
    );
  });
});

describe('desiredState: examples', () => {
  const agent = agents[0]!;

  it('merges into a nested object and keeps its other keys', () => {
    const result = desiredState(agent, { vad_config: { sample_rate: 44100 } });
    expect(result).toMatchObject({ ok: true, body: { vad_config: { ...(agent.vad_config as object), sample_rate: 44100 } } });
  });

  it('deletes a nested key with null', () => {
    const result = desiredState(agent, { greeting_config: { voice_mail_message: null } });
    if (!result.ok) throw new Error('expected ok');
    expect(result.body.greeting_config).not.toHaveProperty('voice_mail_message');
    expect(result.changes).toEqual([{ path: 'greeting_config.voice_mail_message', before: (agent.greeting_config as Record<string, Json>).voice_mail_message, after: undefined }]);
  });

  it('is unchanged when the agent already has the values', () => {
    expect(desiredState(agent, { name: agent.name as string, vad_config: { sample_rate: (agent.vad_config as { sample_rate: number }).sample_rate } })).toMatchObject({ ok: true, body: {}, changes: [] });
  });

  it('applies $replace to every occurrence, literally ($& stays as text)', () => {
    expect(applyReplace('Acme and Acme', { find: 'Acme', with: '$& Corp' })).toBe('$& Corp and $& Corp');
  });

  it('applies a regex $replace with flags and groups', () => {
    expect(applyReplace('acme ACME', { find: '(a)cme', with: '$1-co', regex: true, flags: 'i' })).toBe('a-co A-co');
  });

  it('refuses $replace on a field the agent does not have as a string', () => {
    const { prompt_template: _drop, ...noPrompt } = agent;
    expect(desiredState(noPrompt as typeof agent, { prompt_template: { $replace: { find: 'a', with: 'b' } } })).toEqual({
      ok: false,
      errors: [{ path: 'prompt_template', message: '$replace needs a string on the agent, found nothing' }],
    });
  });

  it('refuses a merge that leaves a free-form object without its required keys', () => {
    const { llm_config: _drop, ...noLlm } = agent;
    expect(desiredState(noLlm as typeof agent, { llm_config: { temperature: 0.1 } })).toMatchObject({
      ok: false,
      errors: [
        { path: 'llm_config.model', message: 'required key is missing' },
        { path: 'llm_config.provider', message: 'required key is missing' },
      ],
    });
  });

  it('keeps keys the agent has that the catalogue does not know', () => {
    const withExtra = { ...agent, extra_config: { ...(agent.extra_config as object), future_flag: true } };
    const minWords = (agent.extra_config as { min_words: number }).min_words + 1;
    const result = desiredState(withExtra, { extra_config: { min_words: minWords } });
    expect(result).toMatchObject({ ok: true, body: { extra_config: { future_flag: true, min_words: minWords } } });
  });

  it('never lets a __proto__ key from the agent reach the prototype', () => {
    const hostile = JSON.parse('{"id": "x", "llm_config": {"model": "m", "provider": "openai", "__proto__": {"polluted": true}}}');
    const result = desiredState(hostile, { llm_config: { temperature: 1 } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(result.ok && Object.getPrototypeOf(result.body.llm_config)).toBe(Object.prototype);
  });
});
