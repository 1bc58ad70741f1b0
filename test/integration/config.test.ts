import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config.js';
import { SCRAPER_NAMES } from '../../shared/scraper-names.js';
import { startService } from '../helpers/processes.js';
import { serviceEnv } from '../helpers/services.js';

describe('loadConfig', () => {
  it('has defaults that work on a developer machine', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ redisUrl: 'redis://127.0.0.1:6379', keyPrefix: 'scout:', queueName: 'scrape' });
    expect(config.worker).toMatchObject({ concurrency: 4, scrapers: [...SCRAPER_NAMES], simFailingScrapers: [], jobFailureThreshold: 1 });
  });

  it('parses worker settings, treating empty values as unset', () => {
    const config = loadConfig({ WORKER_CONCURRENCY: '12', SIM_FAILING_SCRAPERS: ' sim-kiwi, sim-wizzair ', SCRAPER_FAILURE_RATE: '0.25', JOB_ATTEMPTS: '' });
    expect(config.worker).toMatchObject({ concurrency: 12, simFailingScrapers: ['sim-kiwi', 'sim-wizzair'], scraperFailureRate: 0.25, attempts: 3 });
  });

  it('names every bad variable in one error', () => {
    const error = (() => {
      try {
        loadConfig({ WORKER_CONCURRENCY: 'abc', REDIS_URL: 'nope', SIM_FAILING_SCRAPERS: 'sim-kiwi,sim-bogus', JOB_FAILURE_THRESHOLD: '1.5' });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    for (const variable of ['WORKER_CONCURRENCY', 'REDIS_URL', 'SIM_FAILING_SCRAPERS', 'JOB_FAILURE_THRESHOLD']) {
      expect(problems.some((p) => p.startsWith(`${variable}`))).toBe(true);
    }
    // The index names the bad entry of the list: the second one.
    expect(problems).toContainEqual(expect.stringMatching(/^SIM_FAILING_SCRAPERS\.1: Invalid option: expected one of "sim-ryanair"/));
  });
});

describe('worker process with invalid configuration', () => {
  it('exits 78 (EX_CONFIG) before touching Redis or Postgres, naming each bad variable', async () => {
    const env = serviceEnv(
      { databaseUrl: 'postgres://postgres@127.0.0.1:5432/never_used', keyPrefix: 'unused:' },
      { WORKER_CONCURRENCY: 'abc', REDIS_URL: 'nope', SIM_FAILING_SCRAPERS: 'sim-bogus' },
    );
    const worker = await startService('worker', env, { waitReady: false });
    const exit = await worker.exited;
    // 78 exactly: a supervisor tells a configuration error (do not restart) from a crash by it.
    expect(exit).toEqual({ code: 78, signal: null });

    // The exit can be seen before the last piped log lines are read.
    const isFatal = (l: { msg?: string }) => l.msg?.startsWith('Invalid configuration') ?? false;
    await expect.poll(() => worker.lines.some(isFatal), { timeout: 2_000 }).toBe(true);
    const fatal = worker.lines.find(isFatal);
    expect(fatal!.problems).toEqual(
      expect.arrayContaining([expect.stringMatching(/^WORKER_CONCURRENCY: /), expect.stringMatching(/^REDIS_URL: /), expect.stringMatching(/^SIM_FAILING_SCRAPERS\.0: /)]),
    );
    expect(worker.lines.some((l) => l.msg === 'worker ready')).toBe(false);
  });
});
