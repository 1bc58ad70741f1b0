import { defineConfig } from 'vitest/config';

/**
 * The fast, in-process tests of the delivery core, for `npm run mutation` only: Stryker runs them
 * once per mutant, so nothing here may start a process (a child process would not see the mutant).
 */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: [
      'test/unit/job-channels.test.ts',
      'test/unit/serve-join.test.ts',
      'test/unit/job-socket.test.ts',
      'test/unit/event-subscriber.test.ts',
      'test/unit/event-payload.test.ts',
      'test/unit/scraping-socket.test.ts',
      'test/unit/drain.test.ts',
      'test/integration/job-event-log.test.ts',
    ],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 10_000,
  },
});
