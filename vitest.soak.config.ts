import { defineConfig } from 'vitest/config';

/**
 * `npm run test:soak`: the long suites in packages/<pkg>/test/soak/ (kept out of `npm test` by
 * vitest.config.ts), one file at a time — each loads the machine on its own.
 */
export default defineConfig({
  test: {
    include: ['packages/*/test/soak/**/*.test.ts'],
    globalSetup: ['packages/server/test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 3 * 3600_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
