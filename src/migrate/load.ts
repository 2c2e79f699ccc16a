/**
 * Loading a migration module: `.mjs`/`.js` with Node's own `import()`, `.ts`/`.mts` through jiti (Node
 * 20 cannot strip types; NOTES.md measured ~130 ms). `import … from 'nova-fleet'` works wherever the
 * module lives: beside an installed nova-fleet as usual, else resolved by the CLI to itself. Only `plan` loads one; a module that fails to load
 * or does not default-export `defineMigration(…)` is exit 2 naming the file.
 */
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UsageError } from '../errors.js';
import { requireRegularFile } from '../user-files.js';
import { isMigration, type Migration } from './define.js';

const EXTENSIONS = new Set(['.mjs', '.js', '.ts', '.mts']);

/** Whether `plan` is given a migration module rather than a manifest. */
export function isMigrationFile(file: string): boolean {
  return EXTENSIONS.has(path.extname(file).toLowerCase());
}

export async function loadMigration(file: string): Promise<Migration> {
  await requireRegularFile(file, 'migration');
  const full = path.resolve(file);
  let loaded: unknown;
  const typescript = /\.m?ts$/i.test(full);
  try {
    if (typescript) loaded = await throughJiti(full);
    else {
      try {
        loaded = ((await import(pathToFileURL(full).href)) as { default?: unknown }).default;
      } catch (error) {
        // A module outside this package (no node_modules/nova-fleet beside it): its `import … from
        // 'nova-fleet'` is resolved to this very package.
        if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND' || !/'nova-fleet'/.test((error as Error).message)) throw error;
        loaded = await throughJiti(full);
      }
    }
  } catch (error) {
    const hint = typescript
      ? `\`npx jiti ${file}\` shows the whole error (jiti strips the types of .ts migrations here; it does not check them)`
      : `\`node ${file}\` shows the whole error`;
    throw new UsageError(`cannot load migration ${file}: ${(error as Error).message.split('\n')[0]}`, hint);
  }
  if (!isMigration(loaded)) throw new UsageError(`${file} does not default-export a migration`, "write `export default defineMigration({ select, transform })`, with defineMigration from 'nova-fleet'");
  return loaded;
}

/**
 * jiti, with `nova-fleet` resolved to this package's own library (wherever the module lives) and no
 * cache on disk: jiti's default cache is a shared folder in the system's temp directory, where another
 * local user could plant the compiled code of a migration before it is run.
 */
async function throughJiti(full: string): Promise<unknown> {
  const { createJiti } = await import('jiti');
  const library = ownLibrary();
  return createJiti(import.meta.url, { moduleCache: false, fsCache: false, ...(library ? { alias: { 'nova-fleet': library } } : {}) }).import(full, { default: true });
}

/** This package's library entry (package.json `exports`), found above this file; undefined if not found. */
function ownLibrary(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; exports?: { '.'?: { import?: string } } };
        const entry = pkg.exports?.['.']?.import;
        if (pkg.name === 'nova-fleet' && entry) return path.join(dir, entry);
      } catch {
        // not ours: keep looking
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}
