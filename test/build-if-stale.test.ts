/**
 * `npm run demo` builds only when a source changed (issue 30): scripts/build-if-stale.mjs over a copy of
 * a project's shape — the first call builds, the next finds it up to date, a changed source builds
 * again, a file touched without a change does not, a missing CLI builds.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

describe('build if stale', () => {
  it('builds when an input changed or the CLI is missing, and only then', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'nf-build-'));
    mkdirSync(path.join(root, 'src', 'store'), { recursive: true });
    writeFileSync(path.join(root, 'src', 'a.ts'), 'export const a = 1;\n');
    writeFileSync(path.join(root, 'src', 'store', 'lua-scripts.generated.ts'), '// generated\n');
    writeFileSync(path.join(root, 'package.json'), '{}\n');
    // The "build": counts itself and leaves a CLI behind.
    const build = `node -e "const fs=require('fs');fs.mkdirSync('dist/cli',{recursive:true});fs.writeFileSync('dist/cli/index.js','');fs.appendFileSync('builds','x')"`;
    const call = () => spawnSync(process.execPath, [path.join(ROOT, 'scripts/build-if-stale.mjs')], { env: { ...process.env, NOVA_FLEET_BUILD_ROOT: root, NOVA_FLEET_BUILD_CMD: build }, encoding: 'utf8' });
    const builds = () => readFileSync(path.join(root, 'builds'), 'utf8').length;

    expect(call().stderr).toContain('building');
    expect(builds()).toBe(1);
    expect(call().stderr).toBe('build: up to date (no source changed since the last build)\n');
    // Touched, not changed (a checkout, a copy): still up to date. The generated file is an output.
    utimesSync(path.join(root, 'src', 'a.ts'), new Date(), new Date(Date.now() + 5000));
    writeFileSync(path.join(root, 'src', 'store', 'lua-scripts.generated.ts'), '// generated again\n');
    call();
    expect(builds()).toBe(1);
    writeFileSync(path.join(root, 'src', 'a.ts'), 'export const a = 2;\n');
    expect(call().stderr).toContain('building');
    expect(builds()).toBe(2);
    rmSync(path.join(root, 'dist', 'cli', 'index.js'));
    call();
    expect(builds()).toBe(3);
    // A new file is a change too.
    writeFileSync(path.join(root, 'src', 'b.ts'), 'export const b = 1;\n');
    call();
    expect(builds()).toBe(4);
    expect(call().status).toBe(0);
    expect(builds()).toBe(4);
  });
});
