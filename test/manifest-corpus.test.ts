/**
 * A corpus of malformed manifests: each is written to a temporary folder and validated, and the exact
 * `FILE:LINE: FIELD: message` lines are asserted. A sloppy or hostile file must be told precisely
 * where it is wrong, and never get a stack trace.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatIssue } from '../src/manifest/errors.js';
import { validateManifest } from '../src/manifest/validate.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-corpus-'));
mkdirSync(path.join(dir, 'prompts'));
writeFileSync(path.join(dir, 'prompts/v2.md'), 'Hello from {{COMPANY}}, this is {{AGENT}}.');
writeFileSync(path.join(os.tmpdir(), 'nova-fleet-outside.md'), 'outside');
symlinkSync(path.join(os.tmpdir(), 'nova-fleet-outside.md'), path.join(dir, 'prompts/link.md'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
async function issuesOf(ext: string, content: string | Buffer): Promise<string[]> {
  const name = `case${++counter}.${ext}`;
  writeFileSync(path.join(dir, name), content);
  const file = path.join(dir, name);
  const report = await validateManifest(file);
  expect(report.ok).toBe(false);
  expect(report.issueCount).toBe(report.issues.length);
  return report.issues.map((issue) => formatIssue(name, issue));
}

const H = 'org_id,agent_id';
const row = (patch: unknown, extra: Record<string, unknown> = {}) => ({ org_id: 'o1', agent_id: 'a1', patch, ...extra });
const json = (rows: unknown) => JSON.stringify(rows, null, 1);
const MiB = 1024 * 1024;

type Case = [name: string, ext: string, content: string | Buffer, expected: string[]];

const cases: Case[] = [
  // CSV: header
  ['CSV without an agent_id column', 'csv', 'org_id,name\no1,x\n', [':1: agent_id: the header needs an agent_id column']],
  ['CSV with a misspelt column', 'csv', `${H},nmae\no1,a1,x\n`, [':1: nmae: unknown column (did you mean "name"?)']],
  ['CSV with a read-only column', 'csv', `${H},tools\no1,a1,[]\n`, [':1: tools: read-only field: a PATCH neither changes nor restores it']],
  ['CSV with a column twice', 'csv', `${H},name,name\no1,a1,x,y\n`, [':1: name: column appears twice in the header']],
  ['CSV with a misspelt nested column', 'csv', `${H},extra_config.interuption_sensitivity\no1,a1,0.5\n`, [':1: extra_config.interuption_sensitivity: unknown key of extra_config (did you mean "interruption_sensitivity"?)']],
  ['CSV with a __proto__ column', 'csv', `${H},__proto__.x\no1,a1,1\n`, [':1: __proto__.x: forbidden key']],
  ['CSV with a :file column on a number', 'csv', `${H},vad_config.sample_rate:file\no1,a1,x.txt\n`, [':1: vad_config.sample_rate:file: vad_config.sample_rate:file: a :file column needs a string field']],
  // CSV: ids
  ['CSV with an empty org_id', 'csv', `${H},name\n,a1,x\n`, [':2: org_id: missing']],
  ['CSV with a space in an id', 'csv', `${H},name\no1,a 1,x\n`, [':2: agent_id: contains characters outside [A-Za-z0-9._:-]']],
  ['CSV with a dot-dot id', 'csv', `${H},name\n..,a1,x\n`, [':2: org_id: cannot be only dots']],
  ['CSV listing the same agent twice', 'csv', `${H},name\no1,a1,x\no1,a2,y\no1,a1,z\n`, [':4: agent_id: the same agent is already listed on line 2']],
  // CSV: cells
  ['CSV with a word for a number', 'csv', `${H},vad_config.sample_rate\no1,a1,abc\n`, [':2: vad_config.sample_rate: expected a number, got "abc"']],
  ['CSV with a hex number', 'csv', `${H},extra_config.min_words\no1,a1,0x10\n`, [':2: extra_config.min_words: expected a number, got "0x10"']],
  ['CSV with a number beyond float range', 'csv', `${H},vad_config.max_buffered_speech\no1,a1,1e400\n`, [':2: vad_config.max_buffered_speech: number out of range: "1e400"']],
  ['CSV with yes for a boolean', 'csv', `${H},goodbye_config.enabled\no1,a1,yes\n`, [':2: goodbye_config.enabled: expected true or false, got "yes"']],
  ['CSV with a bad enum', 'csv', `${H},type\no1,a1,robot\n`, [':2: type: expected one of "voice"|"chat"|"video"']],
  ['CSV with a value out of range', 'csv', `${H},extra_config.interruption_sensitivity\no1,a1,1.5\n`, [':2: extra_config.interruption_sensitivity: must be at most 1']],
  ['CSV with a fraction for an integer', 'csv', `${H},extra_config.min_words\no1,a1,2.5\n`, [':2: extra_config.min_words: expected int, received number']],
  ['CSV with zero where at least one is required', 'csv', `${H},room_duration_config.max_duration_min\no1,a1,0\n`, [':2: room_duration_config.max_duration_min: must be at least 1']],
  ['CSV with a sample rate outside 8000..48000', 'csv', `${H},vad_config.sample_rate\no1,a1,4000\no1,a2,96000\n`, [':2: vad_config.sample_rate: must be at least 8000', ':3: vad_config.sample_rate: must be at most 48000']],
  ['NDJSON with a typo in a free-form object', 'ndjson', '{"org_id":"o1","agent_id":"a1","patch":{"llm_config":{"temprature":0.2}}}\n', [":1: llm_config.temprature: unknown key (did you mean \"temperature\"?); --allow-unknown-keys passes keys the vendor's SDK does not list"]],
  ['NDJSON with a known free-form key of the wrong type', 'ndjson', '{"org_id":"o1","agent_id":"a1","patch":{"llm_config":{"max_tokens":0}}}\n', [':1: llm_config.max_tokens: must be at least 1']],
  ['CSV with a non-array for an array field', 'csv', `${H},default_functions\no1,a1,end_call\n`, [':2: default_functions: expected a JSON array of strings such as ["a","b"], got "end_call"']],
  ['CSV with a ragged row', 'csv', `${H},name\no1,a1,x\no1,a2,y,extra\n`, [':3: csv: expected 3 cells as in the header, found 4']],
  ['CSV with an unclosed quote', 'csv', `${H},name\no1,a1,"x\no1,a2,y\n`, [':2: csv: a quoted cell opened in this record is never closed']],
  ['CSV with invalid JSON in the patch column', 'csv', `${H},patch\no1,a1,"{""name"": }"\n`, [':2: patch: invalid JSON: unexpected "}"']],
  ['CSV with an array in the patch column', 'csv', `${H},patch\no1,a1,[1]\n`, [':2: patch: the patch column must hold a JSON object']],
  ['CSV setting a field by column and patch', 'csv', `${H},name,patch\no1,a1,x,"{""name"": ""y""}"\n`, [':2: name: set both by its column and by the patch column']],
  ['CSV with a missing :file', 'csv', `${H},prompt_template:file\no1,a1,prompts/none.md\n`, [':2: prompt_template: cannot read file "prompts/none.md": not found (reported once, at its first use)']],
  ['CSV with a :file outside the folder', 'csv', `${H},prompt_template:file\no1,a1,../../etc/passwd\n`, [':2: prompt_template: file "../../etc/passwd" is outside the manifest\'s folder (use --allow-files-outside to permit) (reported once, at its first use)']],
  ['CSV with a row that changes nothing', 'csv', `${H},name\no1,a1,\n`, [':2: patch: is empty: the row changes nothing']],
  ['CSV with a cell over 1 MiB', 'csv', `${H},prompt_template\no1,a1,${'x'.repeat(MiB + 1)}\n`, [':2: prompt_template: cell over 1 MiB']],
  ['CSV with a 10 MB line', 'csv', `${H},prompt_template\no1,a1,${'x'.repeat(10 * MiB)}\n`, [':2: csv: a record longer than 8388608 bytes']],
  ['CSV with invalid UTF-8', 'csv', Buffer.concat([Buffer.from(`${H},name\no1,a1,ok\no1,a2,caf`), Buffer.from([0xe9]), Buffer.from('\n')]), [':3: manifest: invalid UTF-8 (byte 0xe9); save the file as UTF-8']],
  ['CSV that is empty', 'csv', '', [':1: manifest: empty manifest: no rows']],
  ['CSV with only a header', 'csv', `${H},name\n`, [':1: manifest: empty manifest: no rows']],
  ['CSV template missing a variable', 'csv', `${H},prompt_template,vars.COMPANY\no1,a1,,Acme\n`.replace(',,Acme', ',x,Acme').replace('prompt_template,', 'patch,').replace(',x,', ',"{""prompt_template"": {""$template"": ""prompts/v2.md""}}",'), [':2: prompt_template: template "prompts/v2.md" uses {{AGENT}} but the row has no vars.AGENT']],
  // JSON: structure
  ['JSON that is a string', 'json', '"rows"', [':1: json: a JSON manifest is an array of rows or {"defaults": …, "agents": [rows]}']],
  ['JSON with an unknown top-level key', 'json', '{"defaults": {}, "rows": []}', [':1: json: unknown top-level key "rows"; expected "defaults" and "agents" (or "select")']],
  ['JSON with defaults after agents', 'json', '{"agents": [],\n "defaults": {}}', [':2: json: "defaults" must come before "agents" (rows are read as they stream)']],
  ['JSON with agents not an array', 'json', '{"agents": {"org_id": "o1"}}', [':1: json: "agents" must be an array of rows']],
  ['JSON with a trailing comma', 'json', '[\n {"org_id": "o1", "agent_id": "a1", "patch": {"name": "x"}},\n]', [':3: json: unexpected "]"']],
  ['JSON not closed', 'json', '[\n {"org_id": "o1", "agent_id": "a1", "patch": {"name": "x"}}\n', [':2: json: unexpected end of file: an array or object is not closed']],
  ['JSON with 0x10', 'json', '[{"org_id": "o1",\n "agent_id": "a1", "patch": {"vad_config": {"sample_rate": 0x10}}}]', [':2: json: unexpected "x"']],
  ['JSON nested 50 deep', 'json', `[{"org_id": "o1", "agent_id": "a1", "patch": {"llm_config": ${'['.repeat(50)}${']'.repeat(50)}}}]`, [':1: json: nested deeper than 40 levels']],
  ['JSON with a duplicate key', 'json', '[{"org_id": "o1", "agent_id": "a1",\n "patch": {"name": "x",\n "name": "y"}}]', [':3: name: duplicate key "name" (JSON would silently keep the last value)']],
  ['JSON with a single value over 1 MiB', 'json', json([row({ prompt_template: 'x'.repeat(2 * MiB) })]), [':6: json: a value longer than 1 MiB (or a run of 1049600 bytes without a complete token)']],
  // JSON: rows
  ['JSON with a row that is a number', 'json', '[\n 7\n]', [':2: row: a row is an object {"org_id", "agent_id", "patch", "vars"?}']],
  ['JSON with an unknown row key', 'json', json([row({ name: 'x' }, { agentid: 'a1' })]), [':2: agentid: unknown key in a row; a row is {"org_id", "agent_id", "patch", "vars"?, "expect"?}']],
  ['JSON with a numeric agent_id', 'json', json([{ org_id: 'o1', agent_id: 42, patch: { name: 'x' } }]), [':2: agent_id: must be a string, found number']],
  ['JSON with a patch that is an array', 'json', json([row([1])]), [':2: patch: must be a JSON object of field → value']],
  ['JSON with a misspelt field', 'json', json([row({ promt_template: 'x' })]), [':2: promt_template: unknown field (did you mean "prompt_template"?)']],
  ['JSON setting a top-level field to null', 'json', json([row({ vad_config: null })]), [':2: vad_config: cannot be null: the API cannot delete a top-level field']],
  ['JSON removing a required key', 'json', json([row({ llm_config: { model: null } })]), [':2: llm_config.model: is required by the API and cannot be removed']],
  ['JSON with __proto__ in a patch', 'json', '[{"org_id": "o1", "agent_id": "a1", "patch": {"llm_config": {"__proto__": {"x": 1}}}}]', [':1: llm_config.__proto__: forbidden key']],
  ['JSON with an unpaired surrogate', 'json', '[{"org_id": "o1", "agent_id": "a1", "patch": {"name": "\\ud800"}}]', [':1: name: string contains an unpaired surrogate (\\ud800–\\udfff escape)']],
  ['JSON with an unknown directive', 'json', json([row({ prompt_template: { $fil: 'prompts/v2.md' } })]), [':2: prompt_template: unknown directive "$fil" (did you mean "$file"?); use $file, $template or $replace']],
  ['JSON with $replace missing "with"', 'json', json([row({ name: { $replace: { find: 'a' } } })]), [':2: name: $replace.with must be a string']],
  ['JSON with an invalid $replace regex', 'json', json([row({ name: { $replace: { find: '(', with: 'x', regex: true } } })]), [':2: name: $replace.find is not a valid regular expression: Invalid regular expression: /(/g: Unterminated group']],
  ['JSON with a directive on a number', 'json', json([row({ vad_config: { sample_rate: { $file: 'prompts/v2.md' } } })]), [':2: vad_config.sample_rate: directives ($file, $template, $replace) only apply to string fields; this one is an integer']],
  ['JSON with an absolute $file', 'json', json([row({ prompt_template: { $file: '/etc/passwd' } })]), [':2: prompt_template: file "/etc/passwd" is outside the manifest\'s folder (use --allow-files-outside to permit) (reported once, at its first use)']],
  ['JSON with a $file symlinked outside', 'json', json([row({ prompt_template: { $file: 'prompts/link.md' } })]), [':2: prompt_template: file "prompts/link.md" is outside the manifest\'s folder (use --allow-files-outside to permit) (reported once, at its first use)']],
  ['JSON with vars holding an object', 'json', json([row({ name: 'x' }, { vars: { A: { b: 1 } } })]), [':2: vars.A: must be text (or a number or boolean)']],
  ['JSON with a defaults typo', 'json', '{"defaults": {"patch": {"extra_config": {"min_word": 1}}},\n "agents": [{"org_id": "o1", "agent_id": "a1"}]}', [':1: defaults.extra_config.min_word: unknown key (did you mean "min_words"?)']],
  // NDJSON
  ['NDJSON with a broken line among good ones', 'ndjson', `${JSON.stringify(row({ name: 'x' }))}\n\n{"org_id": "o1", "agent_id": "a2", "patch": \n${JSON.stringify(row({ name: 'y' }, { agent_id: 'a3' }))}\n`, [':3: ndjson: invalid JSON: unexpected end of JSON']],
  ['NDJSON with a 5 MB line', 'ndjson', `${JSON.stringify(row({ name: 'x' }))}\n${JSON.stringify(row({ prompt_template: 'y'.repeat(5 * MiB) }, { agent_id: 'a2' }))}\n`, [':2: ndjson: line longer than 4 MiB']],
  ['NDJSON with an empty patch', 'ndjson', `${JSON.stringify(row({}))}\n`, [':1: patch: is empty: the row changes nothing']],
  ['NDJSON with a duplicate key', 'ndjson', '{"org_id": "o1", "org_id": "o2", "agent_id": "a1", "patch": {"name": "x"}}\n', [':1: ndjson: invalid JSON: duplicate key "org_id"']],
];

describe('malformed manifests: every problem named with file, line and field', () => {
  it('has a corpus of at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });
  for (const [name, ext, content, expected] of cases) {
    it(name, async () => {
      const issues = await issuesOf(ext, content);
      expect(issues.map((line) => line.replace(/^case\d+\.\w+/, ''))).toEqual(expected);
    });
  }
});

describe('valid manifests that look odd', () => {
  it('reads a CSV with a BOM and CRLF line ends', async () => {
    writeFileSync(path.join(dir, 'bom.csv'), `\uFEFF${H},name\r\no1,a1,x\r\no1,a2,y\r\n`);
    const report = await validateManifest(path.join(dir, 'bom.csv'));
    expect(report).toMatchObject({ ok: true, summary: { rows: 2, agents: 2, orgs: 1, fields: { name: 2 } } });
  });

  it('counts lines across multi-line quoted cells', async () => {
    writeFileSync(path.join(dir, 'multi.csv'), `${H},prompt_template,type\no1,a1,"line one\nline two\nline three",voice\no1,a2,x,robot\n`);
    const report = await validateManifest(path.join(dir, 'multi.csv'));
    expect(report.issues).toEqual([{ line: 5, field: 'type', message: 'expected one of "voice"|"chat"|"video"' }]);
  });

  it('merges JSON rows over defaults and accepts templates with vars from both', async () => {
    const manifest = {
      defaults: { patch: { prompt_template: { $template: 'prompts/v2.md' }, extra_config: { min_words: 2 } }, vars: { COMPANY: 'Acme' } },
      agents: [
        { org_id: 'o1', agent_id: 'a1', vars: { AGENT: 'Ava' } },
        { org_id: 'o1', agent_id: 'a2', vars: { AGENT: 'Leo' }, patch: { extra_config: { allow_interruptions: false } } },
      ],
    };
    writeFileSync(path.join(dir, 'defaults.json'), JSON.stringify(manifest));
    const report = await validateManifest(path.join(dir, 'defaults.json'));
    expect(report).toMatchObject({ ok: true, summary: { rows: 2, files: 1, fields: { prompt_template: 2, 'extra_config.min_words': 2, 'extra_config.allow_interruptions': 1 } } });
  });

  it('reads .jsonl as NDJSON and skips blank lines', async () => {
    writeFileSync(path.join(dir, 'rows.jsonl'), `${JSON.stringify(row({ name: 'x' }))}\n\n   \n${JSON.stringify(row({ name: 'y' }, { agent_id: 'a2' }))}`);
    expect(await validateManifest(path.join(dir, 'rows.jsonl'))).toMatchObject({ ok: true, summary: { format: 'ndjson', rows: 2 } });
  });

  it('allows files outside the folder when told to', async () => {
    writeFileSync(path.join(dir, 'outside.json'), json([row({ prompt_template: { $file: 'prompts/link.md' } })]));
    expect((await validateManifest(path.join(dir, 'outside.json'), { allowFilesOutside: true })).ok).toBe(true);
  });

  it('keeps 100 issues and counts the rest', async () => {
    const rows = Array.from({ length: 150 }, (_, i) => `o1,a${i},robot`).join('\n');
    writeFileSync(path.join(dir, 'many.csv'), `${H},type\n${rows}\n`);
    const report = await validateManifest(path.join(dir, 'many.csv'));
    expect(report.issues).toHaveLength(100);
    expect(report.issueCount).toBe(150);
  });
});

describe('a patch repeated row after row is checked once, and nothing else passes for it', () => {
  const ndjson = (patches: unknown[]) => patches.map((patch, i) => JSON.stringify({ org_id: 'o1', agent_id: `a${i}`, patch })).join('\n');
  it('the same bad patch on every row: every row told', async () => {
    expect(await issuesOf('ndjson', ndjson([{ name: 5 }, { name: 5 }, { name: 5 }]))).toHaveLength(3);
  });
  it('a patch that differs from the one before only deep down, by type or by an extra key is checked again', async () => {
    const good = { vad_config: { sample_rate: 16000, max_buffered_speech: 5 }, name: 'x' };
    const issues = await issuesOf(
      'ndjson',
      ndjson([
        good,
        { vad_config: { sample_rate: '16000', max_buffered_speech: 5 }, name: 'x' },
        good,
        { vad_config: { sample_rate: 16000, max_buffered_speech: 5 }, name: 'x', nmae: 'y' },
        good,
        { name: 'x', vad_config: { max_buffered_speech: 5, sample_rate: 4 } },
      ]),
    );
    expect(issues.map((line) => line.replace(/^case\d+\.ndjson/, ''))).toEqual([
      expect.stringMatching(/^:2: vad_config\.sample_rate: /),
      expect.stringMatching(/^:4: nmae: /),
      expect.stringMatching(/^:6: vad_config\.sample_rate: /),
    ]);
  });
});
