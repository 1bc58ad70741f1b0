import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // Integration tests start real processes; two cores are shared by them, Redis and Postgres.
    maxWorkers: 2,
    testTimeout: 60_000,
    // On CI (CI=true) a test that fails is run once more, and fails the run if it fails again:
    // the integration tests race real processes on two shared cores, and a rare timing loss
    // (listed by the reporter as a retry) must not hide the rest. Locally every failure counts.
    retry: process.env.CI ? 1 : 0,
    hookTimeout: 60_000,
    // What a poll waits for comes from real processes on two shared cores: a second (the
    // default) is too short when the machine is busy; a poll still returns as soon as it holds.
    expect: { poll: { timeout: 5_000 } },
  },
});
