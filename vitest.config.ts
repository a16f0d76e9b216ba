import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The Temporal core bridge is a native module: worker threads segfault with it, forks do not.
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    globalSetup: ['./test/setup/global-setup.ts'],
    hookTimeout: 180_000,
    testTimeout: 90_000,
  },
});
