/**
 * `npm run demo` builds only when a source changed since the last build (issue 30: it rebuilt every
 * time, ~40 s). The build's inputs — src/, bench/, scripts/, package.json, package-lock.json and the
 * tsconfigs — are hashed by content (a checkout or a copy changes times, not contents) and compared
 * with the hash written after the last build that passed (dist/.build-inputs). Equal, and the CLI is
 * there: nothing to do. `--stamp` only writes the hash (the end of `npm run build`).
 * NOVA_FLEET_BUILD_ROOT and NOVA_FLEET_BUILD_CMD exist for its test.
 */
import { execSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = process.env.NOVA_FLEET_BUILD_ROOT ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stampFile = path.join(root, 'dist', '.build-inputs');
const INPUTS = ['src', 'bench', 'scripts', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];

function* files(entry) {
  const full = path.join(root, entry);
  if (!existsSync(full)) return;
  if (!readdirSync(path.dirname(full), { withFileTypes: true }).find((d) => d.name === path.basename(full))?.isDirectory()) {
    yield entry;
    return;
  }
  for (const d of readdirSync(full, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    // The generated Lua module is an output of the build, not an input.
    if (d.name === 'lua-scripts.generated.ts') continue;
    yield* files(path.join(entry, d.name));
  }
}

function inputsHash() {
  const hash = createHash('sha256');
  for (const entry of INPUTS) for (const file of files(entry)) hash.update(`${file}\0`).update(readFileSync(path.join(root, file))).update('\0');
  return hash.digest('hex');
}

const now = inputsHash();
const stamp = () => {
  mkdirSync(path.dirname(stampFile), { recursive: true });
  writeFileSync(stampFile, `${now}\n`);
};
if (process.argv.includes('--stamp')) stamp();
else if (existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === now && existsSync(path.join(root, 'dist', 'cli', 'index.js'))) {
  process.stderr.write('build: up to date (no source changed since the last build)\n');
} else {
  process.stderr.write('build: sources changed since the last build — building…\n');
  execSync(process.env.NOVA_FLEET_BUILD_CMD ?? 'npm run -s build', { cwd: root, stdio: 'inherit' });
  stamp();
}
