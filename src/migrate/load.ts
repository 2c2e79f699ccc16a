/**
 * Loading a migration module: `.mjs`/`.js` with Node's own `import()`, `.ts`/`.mts` through jiti (Node
 * 20 cannot strip types; NOTES.md measured ~130 ms). Only `plan` loads one; a module that fails to load
 * or does not default-export `defineMigration(…)` is exit 2 naming the file.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
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
  try {
    if (/\.m?ts$/i.test(full)) {
      const { createJiti } = await import('jiti');
      loaded = await createJiti(import.meta.url, { moduleCache: false }).import(full, { default: true });
    } else {
      loaded = ((await import(pathToFileURL(full).href)) as { default?: unknown }).default;
    }
  } catch (error) {
    throw new UsageError(`cannot load migration ${file}: ${(error as Error).message.split('\n')[0]}`, 'run it with node to see the whole error');
  }
  if (!isMigration(loaded)) throw new UsageError(`${file} does not default-export a migration`, "write `export default defineMigration({ select, transform })`, with defineMigration from 'nova-fleet'");
  return loaded;
}
