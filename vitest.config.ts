import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real Redis + real loopback HTTP: generous timeouts, and files in parallel
    // (each test file owns its own Redis prefix, so they do not collide).
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
