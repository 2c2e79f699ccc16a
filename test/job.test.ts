/** The job's two forms (batch/job.ts): named fields for the worker, the compact wire form for Redis. */
import { describe, expect, it } from 'vitest';
import { BadJobError, jobFromRow, readJob, restoreJob, type AgentJobData } from '../src/batch/job.js';

describe('a job, named ⇄ wire', () => {
  it('a row with everything round-trips: inline patch, variables, preconditions', () => {
    const row = { line: 7, patch: { name: 'x' }, vars: { who: 'Ann' }, expect: { 'llm_config.provider': 'openai' } };
    const wire = jobFromRow('o1/a1', row);
    expect(wire).toEqual({ k: 'o1/a1', l: 7, i: { name: 'x' }, v: { who: 'Ann' }, e: { 'llm_config.provider': 'openai' } });
    expect(readJob(wire)).toEqual({ agentKey: 'o1/a1', line: 7, patch: { inline: { name: 'x' } }, vars: { who: 'Ann' }, expect: { 'llm_config.provider': 'openai' } });
  });

  it('a stored patch travels as its digest; no variables and no preconditions leave no keys', () => {
    const wire = jobFromRow('o1/a2', { line: 3, patch: { name: 'long' }, vars: {} }, 'D1g3st');
    expect(wire).toEqual({ k: 'o1/a2', l: 3, p: 'D1g3st' });
    expect(readJob(wire)).toEqual({ agentKey: 'o1/a2', line: 3, patch: { digest: 'D1g3st' }, vars: {} });
  });

  it("a rollback's job names the agent only", () => {
    expect(readJob(restoreJob('o2/b'))).toEqual({ agentKey: 'o2/b', line: 0, vars: {} });
  });

  it('wire data of the wrong shape (written by hand, another version) is refused, naming the field', () => {
    const bad = (data: unknown) => () => readJob(data as AgentJobData);
    expect(bad({ l: 1 })).toThrow(BadJobError);
    expect(bad({ k: 'o/a', l: '1' })).toThrow(/l:/);
    expect(bad({ k: 'o/a', l: 1, v: { who: 3 } })).toThrow(/v\.who/);
    expect(bad({ k: 'o/a', l: 1, i: ['name'] })).toThrow(/i:/);
    expect(bad({ k: 'o/a', l: 1, p: 42 })).toThrow(/p:/);
    expect(bad({ k: 'o/a', l: 1, e: 'x' })).toThrow(/e:/);
  });
});
