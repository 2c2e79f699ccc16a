#!/usr/bin/env node
// Thin launcher: the CLI is built into dist/cli by `npm run build` (run on `npm install` via `prepare`):
// tsc's output bundled by esbuild (scripts/bundle.mjs), which starts a command ~0.2 s sooner.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('nova-fleet: not built yet. Run `npm install` (or `npm run build`) in the nova-fleet folder.\n');
  process.exit(2);
}
await import(entry.href);
