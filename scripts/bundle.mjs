/**
 * The CLI as the operator runs it: dist/src/cli (tsc's output) bundled by esbuild into dist/cli, one
 * chunk per command, so that `nova-fleet run` reads a few large files instead of ~550 small ones
 * (BullMQ's 171 CommonJS files, zod's 95 modules, ours). Measured (issue 18): a 16-agent `run` ~0.2 s
 * sooner; `--help` and `status` no slower. The library (dist/src/lib.js) and the tests use tsc's output.
 *
 * zod is imported as `import * as z from 'zod'` (test/boundaries.test.ts): esbuild then keeps the members
 * used — one locale of 64, ~200 KB in `run`'s chunks — where zod's `z` object would keep all of it.
 *
 * Left out of the bundle, loaded from node_modules as before: packages that read files of their own
 * at run time or load native code (the dashboard's express and bull-board, pino's transports, the
 * migrations' jiti, msgpackr's optional native extractor), and prom-client (only with --metrics-port).
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist/cli');

rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [path.join(root, 'dist/src/cli/index.js')],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['express', '@bull-board/*', 'pino', 'pino-pretty', 'prom-client', 'jiti', 'msgpackr-extract'],
  // CommonJS code inside an ES module: `require`, `__filename` and `__dirname` as it expects them.
  banner: {
    js: [
      "import { createRequire as __nfRequire } from 'node:module';",
      "import { fileURLToPath as __nfPath } from 'node:url';",
      'const require = __nfRequire(import.meta.url);',
      'const __filename = __nfPath(import.meta.url);',
      "const __dirname = __nfPath(new URL('.', import.meta.url));",
    ].join(' '),
  },
  logLevel: 'warning',
});
