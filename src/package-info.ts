/**
 * nova-fleet's own package.json and root folder, found by walking up from this module — the same code
 * runs from src/ (tests) and from dist/src/ (the built CLI), at different depths.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (existsSync(candidate) && (JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name === 'nova-fleet') {
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('nova-fleet: cannot find its own package.json');
    dir = parent;
  }
}

/** The folder holding nova-fleet's package.json (and jobs/, bin/). */
export const PACKAGE_ROOT = findRoot();
export const VERSION = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
