/**
 * The pure decisions behind issue 24's fixes, one per test, fast enough for `npm run mutate` to judge
 * them mutant by mutant: re-run or refuse, an org block's halt, a selector's checks, an archive line's
 * checks, whose agent a reply is, what a Redis URL names, a plan value read as a directive, a rendered
 * template's size. The same paths run end to end in the *.redis tests.
 */
import { describe, expect, it } from 'vitest';
import { otherAgent } from '../src/api/reply.js';
import { ARCHIVE_VERSION, boundedLines, inertMeta, parseArchiveLine } from '../src/ops/archive.js';
import { blockedHalt } from '../src/worker/org-blocks.js';
import { rerunDecision } from '../src/batch/rerun.js';
import { UsageError } from '../src/errors.js';
import { renderedBytes, placeholderUse, renderTemplate } from '../src/patch/template.js';
import type { AgentPlan } from '../src/plan/plan.js';
import { directiveInPlan, plannedRow } from '../src/plan/plan-rows.js';
import { checkSelector, describeSelector, whereList } from '../src/select/selector.js';
import type { BatchMeta } from '../src/batch/records.js';
import { checkRedisUrl, maskRedisUrl } from '../src/store/connect.js';

const meta = (status: BatchMeta['status'], extra: Partial<BatchMeta> = {}): BatchMeta => ({
  id: 'b-1',
  kind: 'rollout',
  manifest: 'm.ndjson',
  digest: 'd'.repeat(64),
  createdAt: Date.UTC(2026, 10, 1),
  status,
  total: 3,
  enqueued: true,
  options: { rate: 10, attempts: 6, backoffMs: 1000, backoffCapMs: 60_000 },
  ...extra,
});

describe('re-running a manifest (SPEC §13)', () => {
  it('no batch yet: a new one; an unfinished one is attached to, whatever its status', () => {
    expect(rerunDecision('m.ndjson', undefined, undefined)).toEqual({});
    for (const status of ['scheduled', 'waiting_window', 'running', 'paused', 'waiting_approval', 'halted'] as const) {
      expect(rerunDecision('m.ndjson', meta(status), undefined)).toEqual({ attach: meta(status) });
    }
  });

  it('a finished one — completed, with failures, cancelled — is refused, saying what finishes it', () => {
    const refused = (status: BatchMeta['status'], skipped: number, failed: number) => {
      const decision = rerunDecision('m.ndjson', meta(status), { skipped, failed });
      expect('refuse' in decision, status).toBe(true);
      return (decision as { refuse: UsageError }).refuse;
    };
    const done = refused('completed', 0, 0);
    expect(done).toBeInstanceOf(UsageError);
    expect(done.message).toBe('m.ndjson was already submitted as batch b-1, which is completed: submitting it again would apply it a second time');
    expect(done.hint).toBe('see it with `nova-fleet report b-1`; give --new to apply the manifest again as a new batch');
    expect(refused('completed_with_failures', 0, 2).hint).toBe('finish that batch with `nova-fleet retry b-1`, or give --new to make a new batch anyway');
    expect(refused('cancelled', 4, 0).hint).toBe('finish that batch with `nova-fleet retry b-1 --skipped`, or give --new to make a new batch anyway');
    expect(refused('cancelled', 1, 1).message).toContain('which is cancelled');
    // Counts not known: the plain hint.
    const unknown = rerunDecision('m.ndjson', meta('completed'), undefined) as { refuse: UsageError };
    expect(unknown.refuse.hint).toContain('nova-fleet report b-1');
  });
});

describe('an org blocked for its key (SPEC §10)', () => {
  it('halts only when nothing else is left, naming the orgs and the server’s words', () => {
    const one = { o1: '403: not this org' };
    expect(blockedHalt(one, 0)).toBe('bad_credentials: the API refused the key of org o1 (o1: 403: not this org); their agents stay pending — fix the key, then resume');
    expect(blockedHalt(one, 1)).toBeUndefined();
    expect(blockedHalt(one, undefined)).toBeUndefined();
    expect(blockedHalt({}, 0)).toBeUndefined();
    const two = blockedHalt({ o1: '401: x', o2: '403: y' }, 0)!;
    expect(two).toContain('the key of orgs o1, o2 (o1: 401: x; o2: 403: y)');
    const many = blockedHalt(Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`o${i}`, 'm'])), 0)!;
    expect(many).toContain('o4: m)');
    expect(many).not.toContain('o5: m');
  });
});

describe('a selector (SPEC §11)', () => {
  it('accepts a good one and says it in words; its where becomes paths', () => {
    const good = { orgs: ['o1', 'o2'], type: 'voice', search: 'Acme', where: { 'llm_config.model': 'gpt-4.1', 'goodbye_config.enabled': true } };
    expect(checkSelector(good)).toEqual([]);
    expect(describeSelector(good)).toBe('the agents of 2 orgs (o1, o2) of type voice matching "Acme" where llm_config.model="gpt-4.1" and goodbye_config.enabled=true');
    expect(describeSelector({ orgs: ['a', 'b', 'c', 'd', 'e', 'f'] })).toBe('the agents of 6 orgs (a, b, c, d, e, …)');
    expect(describeSelector({ orgs: ['a'] })).toBe('the agents of 1 org (a)');
    expect(whereList(good)).toEqual([{ path: ['llm_config', 'model'], value: 'gpt-4.1' }, { path: ['goodbye_config', 'enabled'], value: true }]);
    expect(whereList({ orgs: ['a'] })).toEqual([]);
  });

  it('names every problem by its path', () => {
    expect(checkSelector('o1')).toEqual([{ path: 'select', message: 'must be an object {"orgs": [...], "type"?, "search"?, "where"?}' }]);
    expect(checkSelector({ orgs: [] })).toEqual([{ path: 'select.orgs', message: 'must name at least one org (orgs are always named)' }]);
    expect(checkSelector({ orgs: 'o1' })[0]!.path).toBe('select.orgs');
    expect(checkSelector({ orgs: Array.from({ length: 1001 }, (_, i) => `o${i}`) })).toEqual([{ path: 'select.orgs', message: 'names more than 1000 orgs' }]);
    expect(checkSelector({ orgs: Array.from({ length: 1000 }, (_, i) => `o${i}`) })).toEqual([]);
    expect(checkSelector({ orgs: ['o1', 'o1', 'bad id'], all: true })).toEqual([
      { path: 'select.all', message: 'unknown key; a selector holds "orgs", "type", "search" and "where"' },
      { path: 'select.orgs[1]', message: '"o1" is named twice' },
      { path: 'select.orgs[2]', message: 'contains characters outside [A-Za-z0-9._:-]' },
    ]);
    expect(checkSelector({ orgs: ['o1'], type: 'robot' })).toEqual([{ path: 'select.type', message: 'must be one of voice, chat, video' }]);
    for (const search of ['', 'x'.repeat(201), 5]) expect(checkSelector({ orgs: ['o1'], search })).toEqual([{ path: 'select.search', message: 'must be text of 1 to 200 characters' }]);
    expect(checkSelector({ orgs: ['o1'], search: 'x'.repeat(200) })).toEqual([]);
    expect(checkSelector({ orgs: ['o1'], where: { 'a..b': 1 } })[0]!.path).toMatch(/^select\.where/);
  });
});

describe('an archive line (issue 13, 24)', () => {
  const batchLine = (extra: Record<string, unknown> = {}) => JSON.stringify({ type: 'batch', version: ARCHIVE_VERSION, meta: { ...meta('completed'), ...extra } });
  it('a good batch, patch, file and agent line parse; anything else is refused naming FILE:LINE and the path', () => {
    expect(parseArchiveLine(batchLine(), 'a.gz:1')).toMatchObject({ type: 'batch', meta: { id: 'b-1' } });
    expect(parseArchiveLine('{"type":"patch","digest":"abc_-1","json":"{}"}', 'a.gz:2')).toEqual({ type: 'patch', digest: 'abc_-1', json: '{}' });
    expect(parseArchiveLine('{"type":"file","path":"p.md","text":"Grüße 👋"}', 'a.gz:3')).toEqual({ type: 'file', path: 'p.md', text: 'Grüße 👋' });
    expect(parseArchiveLine('{"type":"agent","key":"o/a","status":"applied","attempts":1}', 'a.gz:4')).toMatchObject({ key: 'o/a' });
    expect(() => parseArchiveLine('{', 'a.gz:5')).toThrow('a.gz:5: not a nova-fleet archive line (invalid JSON)');
    expect(() => parseArchiveLine('{"type":"patch","digest":"d","json":"{"}', 'a.gz:6')).toThrow('a.gz:6: json: not a patch (invalid JSON)');
    expect(() => parseArchiveLine('{"type":"agent","key":"o/../a","status":"applied","attempts":1}', 'a.gz:7')).toThrow('a.gz:7: key: not an agent key org_id/agent_id');
    expect(() => parseArchiveLine(batchLine({ createdAt: Date.now() + 3 * 86_400_000 }), 'a.gz:8')).toThrow('a.gz:8: meta.createdAt: in the future');
    expect(() => parseArchiveLine(batchLine({ id: '*' }), 'a.gz:9')).toThrow('meta.id: not a batch id');
  });

  it('an imported batch is inert: a running one comes back cancelled, its command and hook dropped unless trusted', () => {
    const running = { ...meta('running'), verifyCmd: 'rm -rf /', verifyEnv: ['HOME'], notifyUrl: 'https://hooks.example/x' } as never;
    const inert = inertMeta(running, false);
    expect(inert).toMatchObject({ status: 'cancelled', haltReason: 'imported: it was running; an imported batch is never active', total: 0, enqueued: false });
    expect(inert.verifyCmd).toBeUndefined();
    expect(inert.notifyUrl).toBeUndefined();
    const trusted = inertMeta(running, true);
    expect(trusted).toMatchObject({ verifyCmd: 'rm -rf /', verifyEnv: ['HOME'], notifyUrl: 'https://hooks.example/x' });
    expect(inertMeta({ ...meta('completed'), notifyUrl: 'https://hooks.example/****' } as never, true).notifyUrl).toBeUndefined();
    expect(inertMeta(meta('completed') as never, false)).toMatchObject({ status: 'completed' });
    expect(inertMeta(meta('completed') as never, false).haltReason).toBeUndefined();
  });

  it('lines are split in bounded memory: one longer than the bound is refused, naming its line', async () => {
    const chunks = async function* (parts: string[]) {
      for (const part of parts) yield Buffer.from(part);
    };
    const lines: string[] = [];
    for await (const line of boundedLines(chunks(['ab\ncd', 'e\n', 'f']), 10, 'x.gz')) lines.push(line);
    expect(lines).toEqual(['ab', 'cde', 'f']);
    await expect((async () => {
      for await (const _ of boundedLines(chunks(['12345', '67890', '1\n']), 10, 'x.gz')) void _;
    })()).rejects.toThrow('x.gz:1: a line longer than 10 bytes');
    await expect((async () => {
      for await (const _ of boundedLines(chunks(['ok\n', '12345678901\n']), 10, 'x.gz')) void _;
    })()).rejects.toThrow('x.gz:2: a line longer than 10 bytes');
    const exact: string[] = [];
    for await (const line of boundedLines(chunks(['1234567890\n']), 10, 'x.gz')) exact.push(line);
    expect(exact).toEqual(['1234567890']);
  });
});

describe('a reply is about the agent asked for (issue 24)', () => {
  it('its id, and its organization_id when it has one (as text)', () => {
    const check = otherAgent('o1', 'a1');
    expect(check({ id: 'a1', organization_id: 'o1' })).toBeUndefined();
    expect(check({ id: 'a1' })).toBeUndefined();
    expect(check({ id: 'a1', organization_id: null } as never)).toBeUndefined();
    expect(otherAgent('42', 'a1')({ id: 'a1', organization_id: 42 } as never)).toBeUndefined();
    expect(check({ id: 'a2', organization_id: 'o1' })).toBe('the reply is for agent a2, not a1');
    expect(check({ id: 'a1', organization_id: 'o2' })).toBe('the reply is for an agent of org o2, not o1');
    expect(check({ id: `a\u001b[2J${'x'.repeat(200)}`, organization_id: 'o1' })!.length).toBeLessThan(140);
  });
});

describe('a Redis URL (SPEC §17)', () => {
  it('names its database, or is refused with exit 2', () => {
    expect(checkRedisUrl('redis://127.0.0.1:6379')).toBe(0);
    expect(checkRedisUrl('redis://127.0.0.1:6379/')).toBe(0);
    expect(checkRedisUrl('redis://h:1/7')).toBe(7);
    expect(checkRedisUrl('rediss://u:p@h:1/15')).toBe(15);
    expect(checkRedisUrl('redis+cluster://h:1,h:2')).toBe(0);
    for (const [url, words] of [
      ['localhost:6379', 'is not a Redis URL'],
      ['http://h:1', 'is not a Redis URL'],
      ['redis://h:1/abc', 'a database is a number'],
      ['redis://h:1/1/2', 'a database is a number'],
    ] as const) {
      const error = (() => {
        try {
          checkRedisUrl(url);
        } catch (e) {
          return e as UsageError;
        }
        throw new Error(`${url} was accepted`);
      })();
      expect(error).toBeInstanceOf(UsageError);
      expect(error.message).toContain(words);
    }
    expect(maskRedisUrl('redis://user:secret@h:1/2')).toBe('redis://user:****@h:1/2');
    expect(maskRedisUrl('redis://:secret@h:1')).toBe('redis://:****@h:1');
    expect(maskRedisUrl('redis://secret@h:1')).toBe('redis://****@h:1');
    expect(maskRedisUrl('redis://h:1')).toBe('redis://h:1');
  });
});

describe('a plan holds literal values (issue 24)', () => {
  const plan = (changes: Array<{ path: string; after?: unknown }>) => ({ line: 2, org_id: 'o', agent_id: 'a', status: 'change' as const, changes: changes as never });
  it('finds a value a patch would read as a directive, where a patch looks for one', () => {
    expect(directiveInPlan(plan([{ path: 'name', after: 'x' }, { path: 'llm_config.temperature', after: 0.2 }]))).toBeUndefined();
    expect(directiveInPlan(plan([{ path: 'prompt_template', after: { $file: '/etc/passwd' } }]))).toBe('prompt_template (key "$file")');
    expect(directiveInPlan(plan([{ path: 'greeting_config.greeting', after: { $replace: { find: 'a', with: 'b' } } }]))).toBe('greeting_config.greeting (key "$replace")');
    expect(directiveInPlan(plan([{ path: 'greeting_config', after: { greeting: { $template: 't.md' } } }]))).toBe('greeting_config.greeting (key "$template")');
    // Deeper values, and arrays, are literal data to a patch.
    expect(directiveInPlan(plan([{ path: 'llm_config.params.x', after: { $file: 'f' } }]))).toBeUndefined();
    expect(directiveInPlan(plan([{ path: 'plugins', after: [{ $file: 'f' }] }]))).toBeUndefined();
    expect(directiveInPlan(plan([{ path: 'greeting_config', after: { greeting: { nested: { $file: 'f' } } } }]))).toBeUndefined();
    expect(directiveInPlan({ ...plan([]), changes: undefined } as never)).toBeUndefined();
  });
});

describe('a rendered template’s size (issue 24)', () => {
  it('is computed from the vars without rendering, in UTF-8 bytes', () => {
    const text = 'Hi {{A}}, {{ A }} and {{B}}!';
    const use = placeholderUse(text);
    expect(use).toEqual({ counts: { A: 2, B: 1 }, bytes: Buffer.byteLength('{{A}}{{ A }}{{B}}') });
    const vars = { A: 'ü', B: '漢字' };
    expect(renderedBytes(Buffer.byteLength(text), use, vars)).toBe(Buffer.byteLength(renderTemplate(text, vars)));
    expect(renderedBytes(10, { counts: {}, bytes: 0 }, {})).toBe(10);
    expect(renderTemplate('x'.repeat(1024 * 1024), {})).toHaveLength(1024 * 1024);
    expect(() => renderTemplate(`${'x'.repeat(1024 * 1024)}{{A}}`, { A: 'yy' })).toThrow('over 1048576');
  });
});

describe('more of the same decisions, at their edges', () => {
  it('a Redis URL refused says what to write instead', () => {
    const hint = (url: string) => {
      try {
        checkRedisUrl(url);
      } catch (error) {
        return (error as UsageError).hint;
      }
      throw new Error(`${url} was accepted`);
    };
    expect(hint('localhost:6379')).toBe('for example redis://localhost:6379');
    expect(hint('http://h:1')).toBe('for example redis://h:1');
    expect(hint('://')).toBe('for example redis://127.0.0.1:6379');
    expect(hint('redis://h:1/x')).toBe("use redis://host:port/N, N from 0 to the server's `databases` - 1");
    expect(() => checkRedisUrl('redis://[bad')).toThrow('REDIS_URL "redis://[bad" cannot be read as a URL');
    expect(hint('redis://[bad')).toBe('use redis://[user:password@]host:port[/db]');
  });

  it('a template names its variables in order of first use, and a missing one is an error naming it', () => {
    expect(placeholderUse('{{B}} {{A}} {{B}}').counts).toEqual({ B: 2, A: 1 });
    expect(renderedBytes(11, placeholderUse('{{A}} {{B}}!'), { A: 'xy' })).toBe(11 - 10 + 2);
    expect(() => renderTemplate('Hi {{NAME}}', {})).toThrow('template variable NAME has no value');
  });

  it('an archive agent key is org/agent, each a manifest id', () => {
    const line = (key: string) => `{"type":"agent","key":${JSON.stringify(key)},"status":"applied","attempts":1}`;
    for (const key of ['/a', 'o/', 'o/a/b', 'o', 'o a/b']) expect(() => parseArchiveLine(line(key), 'k.gz:1'), key).toThrow('key: not an agent key');
    expect(parseArchiveLine(line('o.1:x/a-2_3'), 'k.gz:1')).toMatchObject({ key: 'o.1:x/a-2_3' });
    // A time a day ahead is allowed (clocks differ); beyond, refused; and the hint says nothing was imported.
    const soon = JSON.stringify({ type: 'batch', version: ARCHIVE_VERSION, meta: { ...meta('completed'), createdAt: Date.now() + 86_000_000 } });
    expect(parseArchiveLine(soon, 'k.gz:1').type).toBe('batch');
    try {
      parseArchiveLine('{"type":"file","path":"","text":"x"}', 'k.gz:2');
      throw new Error('accepted');
    } catch (error) {
      expect((error as UsageError).message).toMatch(/^k\.gz:2: path: /);
      expect((error as UsageError).hint).toBe('the archive was edited, truncated or made by something else; nothing was imported');
    }
    expect(() => parseArchiveLine('{"type":"nope"}', 'k.gz:3')).toThrow(/^k\.gz:3: type: /);
  });

  it('a line split over chunks counts every chunk toward its bound', async () => {
    const chunks = async function* (parts: string[]) {
      for (const part of parts) yield Buffer.from(part);
    };
    await expect((async () => {
      for await (const _ of boundedLines(chunks(['1234', '5678', '901']), 10, 'c.gz')) void _;
    })()).rejects.toThrow('c.gz:1: a line longer than 10 bytes: not a nova-fleet archive');
    const lines: string[] = [];
    for await (const line of boundedLines(chunks(['12', '34\n56', '78\n']), 4, 'c.gz')) lines.push(line);
    expect(lines).toEqual(['1234', '5678']);
  });
});

describe('a planned agent as a row', () => {
  it('sets the planned values, with the values the plan saw as its precondition (none with --force)', () => {
    const plan: AgentPlan = {
      line: 2,
      org_id: 'o',
      agent_id: 'a',
      status: 'change',
      changes: [
        { path: 'llm_config.temperature', before: 0.9, after: 0.5 },
        { path: 'llm_config.params.top_p', before: undefined, after: 0.8 },
        { path: 'name', before: 'Old', after: 'New' },
        { path: 'goodbye_config.message', before: 'Bye', after: undefined },
      ],
    };
    expect(plannedRow(plan)).toEqual({
      org_id: 'o',
      agent_id: 'a',
      patch: { llm_config: { temperature: 0.5, params: { top_p: 0.8 } }, name: 'New', goodbye_config: { message: null } },
      expect: { 'llm_config.temperature': 0.9, name: 'Old', 'goodbye_config.message': 'Bye' },
    });
    expect(plannedRow(plan, { force: true })!.expect).toBeUndefined();
    expect(plannedRow({ ...plan, status: 'unchanged', changes: [] })).toBeUndefined();
    expect(plannedRow({ ...plan, status: 'missing' })).toBeUndefined();
  });
});
