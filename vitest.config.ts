import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    // the long variants: `npm run test:soak` (vitest.soak.config.ts)
    exclude: [...configDefaults.exclude, 'packages/*/test/soak/**'],
    globalSetup: ['packages/server/test/global-setup.ts'],
    // chDB is a native library bound to one data directory per process: forks, not threads.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
});
