// @ts-check
/**
 * Mutation testing of the delivery core: the gateway's fan-out (gateway/ws/) and the event-log
 * readers (shared/redis/job-event-log.ts), against the fast tests of test/mutation/vitest.config.ts.
 * `npm run mutation`; not part of `npm test`. One mutant at a time: the machine is small and shared.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
const config = {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'test/mutation/vitest.config.ts', related: false },
  mutate: [
    'gateway/ws/job-channels.ts',
    'gateway/ws/serve-join.ts',
    'gateway/ws/job-socket.ts',
    'gateway/ws/event-subscriber.ts',
    'gateway/ws/scraping-socket.ts',
    'gateway/ws/drain.ts',
    'shared/redis/job-event-log.ts',
  ],
  ignorePatterns: ['dist', 'test/artifacts', 'test/bench/results', 'reports', '.stryker-tmp'],
  coverageAnalysis: 'perTest',
  concurrency: 1,
  // A mutant that loops forever is caught by this; the tests themselves take well under a second.
  timeoutMS: 3000,
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
export default config;
