/** src/batch: the status table the TypeScript and the Lua both read, and typed halt reasons. */
import { describe, expect, it } from 'vitest';
import { formatHalt, halt, haltKind, parseHalt } from '../src/batch/halt.js';
import { BATCH_STATUSES, FINAL_BATCH_STATUSES, FROM, luaStatusSets, UNFINISHED_BATCH_STATUSES } from '../src/batch/lifecycle.js';
import { luaScript } from '../src/store/scripts.js';
import { LUA_COMMANDS, type LuaCommandName } from '../src/store/lua-scripts.generated.js';
import { execFileSync } from 'node:child_process';
import { ROOT } from './helpers/cli.js';

describe('the batch life cycle', () => {
  it('splits the statuses into final and unfinished, every one in exactly one', () => {
    expect([...FINAL_BATCH_STATUSES, ...UNFINISHED_BATCH_STATUSES].sort()).toEqual([...BATCH_STATUSES].sort());
    for (const list of Object.values(FROM)) for (const status of list) expect(BATCH_STATUSES).toContain(status);
  });

  it('gives the Lua scripts each from-list as a set', () => {
    const lua = luaStatusSets();
    expect(lua).toContain('local FROM_COMPLETE = {running = true, paused = true, waiting_window = true, scheduled = true, waiting_approval = true}');
    expect(lua).toContain('local FROM_BUDGET_HALT = {running = true, waiting_approval = true, paused = true}');
    expect(lua).toContain('local FROM_OUTAGE_HALT = {running = true}');
  });

  it('resolves every include of the scripts once, leaving no directive and no undefined set', () => {
    for (const name of ['finish', 'complete-if-done', 'api-trouble', 'transition', 'reserve'] as const) {
      const source = luaScript(name);
      expect(source).not.toMatch(/--!include/);
      for (const used of new Set(source.match(/FROM_[A-Z_]+/g) ?? [])) expect(source).toContain(`local ${used} = {`);
    }
    const finish = luaScript('finish');
    expect(finish.match(/local function complete\(/g)).toHaveLength(1);
    expect(finish.match(/generated from src\/batch\/lifecycle\.ts/g)).toHaveLength(1);
  });
});

describe('the embedded Lua commands', () => {
  it('are those of src/store/lua as they are now (the build embeds them; a stale file is found)', () => {
    expect(() => execFileSync(process.execPath, ['scripts/embed-lua.mjs', '--check'], { cwd: ROOT, stdio: 'pipe' })).not.toThrow();
  });

  it("each takes exactly the number of keys its file name says: the highest KEYS[n] it reads", () => {
    const names = Object.keys(LUA_COMMANDS) as LuaCommandName[];
    expect(names.length).toBeGreaterThan(15);
    for (const name of names) {
      const used = Math.max(0, ...[...LUA_COMMANDS[name].lua.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1])));
      expect({ name, keys: used }).toEqual({ name, keys: LUA_COMMANDS[name].keys });
    }
  });
});

describe('halt reasons', () => {
  it('reads the text every version wrote back into its kind', () => {
    expect(parseHalt('error_budget: 5 agents failed, 4 allowed')).toEqual({ kind: 'error_budget', detail: '5 agents failed, 4 allowed' });
    expect(parseHalt('bad_credentials: the API refused the key repeatedly (401/403)').kind).toBe('bad_credentials');
    expect(parseHalt('api_unreachable: no request succeeded for 60 s').kind).toBe('api_unreachable');
    expect(parseHalt('verify_failed: after wave 1, exit 3').kind).toBe('verify_failed');
    expect(parseHalt('deadline_passed: 2026-11-29T10:00:00.000Z; agents not yet tried were skipped').kind).toBe('deadline_passed');
  });

  it('takes hand-written or unknown text as `other`, never a kind it does not name', () => {
    expect(parseHalt('someone typed this')).toEqual({ kind: 'other', detail: 'someone typed this' });
    expect(parseHalt('imported while running: old archive text')).toEqual({ kind: 'other', detail: 'imported while running: old archive text' });
    expect(parseHalt('other: x').kind).toBe('other');
    expect(parseHalt('bad_credentialsX: y').kind).toBe('other');
    expect(haltKind({})).toBeUndefined();
  });

  it('round-trips', () => {
    for (const text of [halt('error_budget', '9 agents failed, 4 allowed'), halt('imported', 'it was running'), 'free text']) expect(formatHalt(parseHalt(text))).toBe(text);
  });
});
