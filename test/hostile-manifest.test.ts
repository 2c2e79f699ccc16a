/**
 * Hostile manifests are bounded (issue 13): validators run in linear time on a 1 MiB cell, and no
 * error line echoes a huge value. The bound is the test's own timeout: the old code took ~20 minutes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateManifest } from '../src/manifest/validate.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MiB = 1024 * 1024;

describe('linear-time validators', () => {
  it('a 1 MiB numeric CSV cell that is not a number is rejected at once, with a short message', async () => {
    const file = path.join(dir, 'number.csv');
    writeFileSync(file, `org_id,agent_id,vad_config.sample_rate\norg-1,agent-1,${'1'.repeat(MiB - 2)}x\n`);
    const started = Date.now();
    const report = await validateManifest(file);
    expect(Date.now() - started).toBeLessThan(10_000); // was ~20 minutes
    expect(report.ok).toBe(false);
    expect(report.issues[0]!.field).toBe('vad_config.sample_rate');
    expect(report.issues[0]!.message).toMatch(/^expected a number, got "1{40}…"$/);
  }, 20_000);

  it('a JSON manifest with a 1 MiB broken token is rejected at once, its message cut', async () => {
    const file = path.join(dir, 'token.json');
    writeFileSync(file, `[{"org_id": "org-1", "agent_id": "a", "patch": {"name": ${'T'.repeat(MiB)}}}]`);
    const started = Date.now();
    const report = await validateManifest(file);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(report.ok).toBe(false);
    for (const issue of report.issues) expect(issue.message.length).toBeLessThan(400);
  }, 20_000);

  it('a 40 MB CSV record is refused once, at once (csv-parse re-checked it at every chunk: 25.7 s, 357 MB)', async () => {
    const file = path.join(dir, 'record.csv');
    writeFileSync(file, `org_id,agent_id,prompt_template\no1,a1,"${'x'.repeat(40 * MiB)}"\no1,a2,fine\n`);
    const started = Date.now();
    const report = await validateManifest(file);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(report.issues).toEqual([{ line: 2, field: 'csv', message: 'a record longer than 8388608 bytes' }]);
  }, 30_000);
});

describe('a $template is bounded by what it renders, not by its file', () => {
  it('a row whose vars would fill a small template past 1 MiB is refused naming its line — nothing rendered', async () => {
    // Defect 11: one 1 MB row and a 2 KB template made a 400 MB plan and 4 GB of RSS in `run`.
    writeFileSync(path.join(dir, 'small.md'), `Hello {{BIG}} and again {{ BIG }}, for {{NAME}}.\n${'-'.repeat(2000)}`);
    const file = path.join(dir, 'template.ndjson');
    writeFileSync(
      file,
      [
        { org_id: 'o1', agent_id: 'fits', patch: { prompt_template: { $template: 'small.md' } }, vars: { BIG: 'x'.repeat(1000), NAME: 'Ann' } },
        { org_id: 'o1', agent_id: 'huge', patch: { prompt_template: { $template: 'small.md' } }, vars: { BIG: 'é'.repeat(300_000), NAME: 'Bob' } },
      ].map((row) => JSON.stringify(row)).join('\n'),
    );
    const report = await validateManifest(file);
    expect(report.ok).toBe(false);
    expect(report.issues).toHaveLength(1);
    // 2 × 600,000 bytes of "é" (2 bytes each) + the rest.
    expect(report.issues[0]).toMatchObject({ line: 2, field: 'prompt_template' });
    expect(report.issues[0]!.message).toMatch(/^template "small\.md" filled from this row's vars would be 12\d{5} bytes, over 1 MiB$/);
  });

  it('renderTemplate itself refuses a result over 1 MiB before building it', async () => {
    const { renderTemplate } = await import('../src/patch/template.js');
    expect(() => renderTemplate('{{A}}'.repeat(2000), { A: 'x'.repeat(1000) })).toThrow('over 1048576 (1 MiB)');
    expect(renderTemplate('{{ A }}-{{A}}', { A: 'ü' })).toBe('ü-ü');
  });
});
