import { defineConfig } from 'vitest/config';

/**
 * The tests StrykerJS runs against each mutant (`npm run mutate`): the fast, pure ones over the files it
 * mutates (stryker.config.json) — no Redis, no child processes, so a mutant costs milliseconds.
 */
export default defineConfig({
  test: {
    include: [
      'test/desired-state.test.ts',
      'test/window.test.ts',
      'test/waves.test.ts',
      'test/backoff.test.ts',
      'test/hostile-regex.test.ts',
      'test/retry-after.test.ts',
      'test/core-pins.test.ts',
      'test/processor.test.ts',
      'test/pacer.test.ts',
      'test/decisions.test.ts',
      'test/call-stats.test.ts',
      'test/cohorts.test.ts',
    ],
    testTimeout: 30_000,
  },
});
