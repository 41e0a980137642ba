import { defineConfig } from 'vitest/config';

/** The browser tests (`npm run test:web`): real Chromium against the built page. */
export default defineConfig({
  test: {
    include: ['test/web/**/*.e2e.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
  },
});
