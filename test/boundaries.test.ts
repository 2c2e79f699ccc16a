/**
 * The walls that carry load (issue 15): only src/store touches Redis keys and the connection; no halt
 * reason is parsed by prefix; no batch metadata field is named outside src/store (issue 26); no source
 * file grows past ~300 lines without saying why at its top; zod is imported so that the bundled CLI
 * carries only what it uses.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(dir, entry.name);
    return entry.isDirectory() ? sources(rel) : entry.name.endsWith('.ts') ? [rel] : [];
  });
}

const files = sources('src').map((file) => ({ file, text: readFileSync(path.join(ROOT, file), 'utf8') }));

/** The lines of `of` matching `pattern`, each with where it is (`file:line`). */
function linesMatching(of: typeof files, pattern: RegExp): Array<{ at: string; line: string }> {
  return of.flatMap((f) => f.text.split('\n').map((line, i) => ({ at: `${f.file}:${i + 1}`, line })).filter(({ line }) => pattern.test(line)));
}

describe('boundaries', () => {
  it('finds the sources it checks', () => {
    expect(files.length).toBeGreaterThan(60);
    expect(files.some((f) => f.file === path.join('src', 'store', 'batch-store.ts'))).toBe(true);
  });

  it('nothing outside src/store reaches the store\'s connection or key names', () => {
    const leaks = linesMatching(files.filter((f) => !f.file.startsWith(path.join('src', 'store'))), /\bstore\.(redis|keys)\b|\.redis\./);
    // (`.redis.` of any store held under another name, e.g. a worker's second connection's, counts too.)
    expect(leaks).toEqual([]);
  });

  it("zod is imported as the module's namespace, never as its `z` object (which keeps all of zod in the bundled CLI)", () => {
    const whole = linesMatching(files, /import\s*\{[^}]*\bz\b[^}]*\}\s*from\s*'zod'/);
    expect(whole).toEqual([]);
    expect(files.filter((f) => f.text.includes("import * as z from 'zod';")).length).toBeGreaterThan(2);
  });

  it("no batch metadata field is named outside src/store: changes go through MetaChange's properties", () => {
    // The Redis field names of meta-codec.ts (those that read like nothing else; `deadline_passed` is a
    // halt kind as well, `created_at` an agent field of the API).
    const field = /\b(halt_reason|finished_at|max_failures|approved_wave|window_next|auto_rollback_id|rollback_id|wave_done_at|auth_failures|outage_since|rollback_of|bake_ms|auto_rollback|start_at|verify_cmd|verify_env|notify_url|hold_completion)\b/;
    const named = linesMatching(files.filter((f) => !f.file.startsWith(path.join('src', 'store'))), field);
    expect(named).toEqual([]);
    // The codec itself names them (the check looks where it should).
    expect(linesMatching(files.filter((f) => f.file.endsWith('meta-codec.ts')), field).length).toBeGreaterThan(10);
  });

  it('the library and the operations never reach into the CLI: the CLI is a shell over them (issue 26)', () => {
    const below = files.filter((f) => f.file === path.join('src', 'lib.ts') || !f.file.startsWith(path.join('src', 'cli')));
    const reaching = linesMatching(below, /from '(\.\.?\/)+cli\/|import\('(\.\.?\/)+cli\//);
    expect(reaching).toEqual([]);
    // The check looks where it should: the CLI's own files import one another this way.
    expect(linesMatching(files.filter((f) => f.file.startsWith(path.join('src', 'cli'))), /from '\.\/output\.js'/).length).toBeGreaterThan(5);
  });

  it("the batch's vocabulary comes from src/batch, never through the store (issue 26)", () => {
    const vocabulary = /^import[^;]*\b(BatchMeta|BatchOptions|AgentRecord|Counts|RolloutControls|AgentStatus|BatchStatus|AGENT_STATUSES|FINAL_BATCH_STATUSES|UNFINISHED_BATCH_STATUSES|AgentJobData)\b[^;]*from '[./]*store\//;
    expect(linesMatching(files, vocabulary)).toEqual([]);
    // It looks where it should: batch/records.ts is imported by name across the code.
    expect(linesMatching(files, /^import[^;]*\bBatchMeta\b[^;]*from '[./]*batch\/records\.js'/).length).toBeGreaterThan(10);
  });

  it('src/engine is gone: every file lives with its lifetime (batch, worker, controller, ops, views, store)', () => {
    expect(files.filter((f) => f.file.startsWith(path.join('src', 'engine')))).toEqual([]);
  });

  it('no halt reason is parsed by its prefix', () => {
    const parsed = linesMatching(files, /(reason|haltReason)[^\n]*\.startsWith\(/);
    expect(parsed).toEqual([]);
  });

  it('no file is over 300 lines unless its top says why', () => {
    const lines = (text: string) => text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    const long = files.filter((f) => lines(f.text) > 300 && !/^\/\*\*[\s\S]{0,2000}?Longer than 300 lines because/.test(f.text)).map((f) => `${f.file}: ${lines(f.text)}`);
    expect(long).toEqual([]);
  });
});
