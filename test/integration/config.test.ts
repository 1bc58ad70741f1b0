import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config.js';
import { SIM_SCRAPER_NAMES } from '../../shared/scraper-names.js';
import { startService } from '../helpers/processes.js';
import { serviceEnv } from '../helpers/services.js';

describe('loadConfig', () => {
  it('has defaults that work on a developer machine', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ redisUrl: 'redis://127.0.0.1:6379', keyPrefix: 'scout:', queueName: 'scrape' });
    expect(config.worker).toMatchObject({ concurrency: 4, scrapers: [...SIM_SCRAPER_NAMES], jobFailureThreshold: 1 });
    expect(config.sources.sim).toEqual({ latencyMs: 400, failureRate: 0, failing: [] });
    expect(config.sources.kiwi.apiKey).toBeNull();
  });

  it('parses worker settings, treating empty values as unset', () => {
    const config = loadConfig({ WORKER_CONCURRENCY: '12', SIM_FAILING_SCRAPERS: ' sim-kiwi, sim-wizzair ', SCRAPER_FAILURE_RATE: '0.25', JOB_ATTEMPTS: '' });
    expect(config.worker).toMatchObject({ concurrency: 12, attempts: 3 });
    expect(config.sources.sim).toMatchObject({ failing: ['sim-kiwi', 'sim-wizzair'], failureRate: 0.25 });
  });

  it('gives each fare source its own namespace, and enables kiwi only with a key', () => {
    const config = loadConfig({ RYANAIR_BASE_URL: 'http://127.0.0.1:9/', WIZZAIR_API_VERSION: '28.1.0', SCRAPERS: 'ryanair,kiwi', KIWI_API_KEY: 'k-12345678' });
    expect(config.sources.ryanair).toEqual({ baseUrl: 'http://127.0.0.1:9', ratePerSecond: 2 });
    expect(config.sources.wizzair).toMatchObject({ baseUrl: 'https://be.wizzair.com', apiVersion: '28.1.0' });
    expect(config.sources.kiwi).toMatchObject({ apiKey: 'k-12345678', baseUrl: 'https://api.tequila.kiwi.com' });
    expect(config.worker.scrapers).toEqual(['ryanair', 'kiwi']);
    expect(() => loadConfig({ SCRAPERS: 'ryanair,kiwi' })).toThrow(/SCRAPERS\.1: kiwi needs a Tequila API key/);
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

describe('secrets in configuration errors', () => {
  it('never prints the password of an invalid DATABASE_URL or REDIS_URL, nor a secret', () => {
    let problems: string[] = [];
    try {
      loadConfig({ DATABASE_URL: 'mysql://scout:hunter2-db-pass@db:5432/scout', REDIS_URL: 'http://:redis-pass-42@redis:6379', ADMIN_TOKEN: 'short-admin' });
    } catch (e) {
      problems = (e as ConfigError).problems;
    }
    const text = problems.join('\n');
    expect(problems).toHaveLength(3);
    expect(text).toContain('mysql://scout:***@db:5432/scout');
    for (const secret of ['hunter2-db-pass', 'redis-pass-42', 'short-admin']) expect(text).not.toContain(secret);
  });
});

describe('gateway with access control on', () => {
  it('refuses to start without a WATCH_TOKEN_SECRET of 32 bytes: exit 78 naming it, the value not shown', async () => {
    const env = serviceEnv(
      { databaseUrl: 'postgres://postgres:db-secret-pw@127.0.0.1:5432/never_used', keyPrefix: 'unused:' },
      { AUTH_ENABLED: 'true', WATCH_TOKEN_SECRET: 'too-short-secret-31-bytes-long!!'.slice(0, 31) },
    );
    const gateway = await startService('gateway', env, { waitReady: false });
    expect((await gateway.exited).code).toBe(78);
    const isFatal = (l: { msg?: string }) => l.msg?.startsWith('Invalid configuration') ?? false;
    await expect.poll(() => gateway.lines.some(isFatal), { timeout: 2_000 }).toBe(true);
    expect(gateway.lines.find(isFatal)!.problems).toEqual([expect.stringMatching(/^WATCH_TOKEN_SECRET: at least 32 bytes/)]);
    const output = gateway.output();
    expect(output).not.toContain('too-short-secret');
    expect(output).not.toContain('db-secret-pw');
  });
});
