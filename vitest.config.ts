import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/helpers/journal-dir.ts'],
    // Real Redis + real loopback HTTP: generous timeouts, and files in parallel
    // (each test file owns its own Redis prefix, so they do not collide).
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Most files wait on I/O (rate slots, real clocks, child processes), not on the CPU: four at a time
    // on a 2-core machine keeps the suite near 2 minutes instead of one file after another.
    maxWorkers: 4,
  },
});
