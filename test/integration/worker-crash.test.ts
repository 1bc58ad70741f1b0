import { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JobParams } from '../../shared/api.js';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { createLogger } from '../../shared/logger.js';
import { createScrapeQueue, enqueueScrape, type ScrapeJobData } from '../../shared/queue.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { MemoryEventSink } from '../../worker/events/memory-event-sink.js';
import { FlightOrchestrator } from '../../worker/orchestrator/orchestrator.js';
import { ProgressTracker } from '../../worker/progress-tracker.js';
import { createScrapers } from '../../worker/scrapers/index.js';
import { flightCounts, jobHistory, oneToN, params, seqs, waitForFinishedJob } from '../helpers/jobs.js';
import { startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, redisUrl, serviceEnv, testConfig, type TestDatabase, type TestRedis } from '../helpers/services.js';

/** What an uninterrupted run of the job finds: the deduplicated flights of its deterministic scrapers. */
async function expectedFlights(db: TestDatabase['db'], jobParams: JobParams): Promise<number> {
  const config = testConfig({ SCRAPER_LATENCY_MS: '0' });
  const orchestrator = new FlightOrchestrator({
    scrapers: createScrapers(config.worker),
    db,
    concurrency: 8,
    failureThreshold: 1,
    log: createLogger('test', 'silent'),
  });
  const result = await orchestrator.scrapeAll({
    origins: jobParams.origins,
    destinations: jobParams.destinations,
    dateRanges: jobParams.date_ranges,
    scrapers: jobParams.scrapers,
    progress: new ProgressTracker(new MemoryEventSink(), 1),
  });
  return result.flights.length;
}

describe('worker crash and shutdown', () => {
  let pg: TestDatabase;
  let t: TestRedis;
  let keys: RedisKeys;
  let queueRedis: Redis;
  let queue: Queue<ScrapeJobData>;
  let env: Record<string, string>;
  const workers: ServiceProcess[] = [];

  beforeAll(async () => {
    [pg, t] = await Promise.all([createTestDatabase(), createTestRedis()]);
    keys = new RedisKeys(t.keyPrefix);
    // Slow searches, two at a time, so a job lasts seconds; a dead worker's lock expires after 2 s.
    env = serviceEnv(
      { databaseUrl: pg.url, keyPrefix: t.keyPrefix },
      { SCRAPER_LATENCY_MS: '200', ORCHESTRATOR_CONCURRENCY: '2', JOB_LOCK_DURATION_MS: '2000', JOB_STALLED_INTERVAL_MS: '1000' },
    );
    queueRedis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
    queue = createScrapeQueue(testConfig(env), queueRedis);
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGKILL')));
  });

  afterAll(async () => {
    await queue?.close();
    queueRedis?.disconnect();
    await Promise.all([pg?.drop(), t?.cleanup()]);
  });

  const start = async (name: string) => {
    const worker = await startService('worker', env, { name });
    workers.push(worker);
    return worker;
  };

  const eventsOf = (jobId: number) => jobHistory(t.redis, keys, jobId);

  it('hands the job of a SIGKILLed worker to another, which finishes it without duplicates or seq gaps', async () => {
    const jobParams = params({ origins: ['MUC', 'VIE'], date_ranges: [['2026-12-20', '2026-12-27'], ['2027-01-03', '2027-01-10']] });
    const first = await start('worker-a');
    const row = await insertPendingJob(pg.db, jobParams);
    await enqueueScrape(queue, row.id);

    // Mid-job: started, and some searches reported, but far from done (32 tasks).
    await expect.poll(async () => (await eventsOf(row.id)).filter((e) => e.event_type === 'scraper_completed').length, { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    expect((await first.stop('SIGKILL')).signal).toBe('SIGKILL');
    const beforeKill = await eventsOf(row.id);
    expect(beforeKill.some((e) => e.event_type === 'job_completed')).toBe(false);
    expect((await pg.db.selectFrom('flights').select('id').where('scraping_job_id', '=', row.id).execute()).length).toBe(0);
    const second = await start('worker-b');

    const finished = await waitForFinishedJob(pg.db, row.id, 30_000);
    expect(finished.status).toBe('completed');
    await second.waitForLog('job resumed');
    await expect.poll(async () => (await eventsOf(row.id)).at(-1)?.event_type).toBe('job_completed');

    const events = await eventsOf(row.id);
    expect(seqs(events)).toEqual(oneToN(events.length));
    expect(events.length).toBeGreaterThan(beforeKill.length);
    expect(events.slice(0, beforeKill.length)).toEqual(beforeKill);
    expect(new Set(events.map((e) => e.metadata.epoch)).size).toBe(1);
    expect(events.filter((e) => e.event_type === 'job_started')).toHaveLength(1);
    const resumed = events.find((e) => e.metadata.resumed === true)!;
    expect(resumed).toMatchObject({ event_type: 'job_progress', message: expect.stringMatching(/^Job resumed by worker/) });
    expect(resumed.seq).toBeGreaterThan(beforeKill.length);

    const expected = await expectedFlights(pg.db, jobParams);
    expect(finished.items_scraped).toBe(expected);
    expect(await flightCounts(pg.db, row.id)).toEqual({ rows: expected, offers: expected });
    expect(events.at(-1)).toMatchObject({ results_count: expected, metadata: { total_flights: expected, failed_scrapers: 0, tasks_total: 32 } });
  });

  it('on SIGTERM finishes the active job, then exits 0', async () => {
    const worker = await start('worker-c');
    const row = await insertPendingJob(pg.db, params({ destinations: ['BCN', 'LIS', 'OPO'] }));
    await enqueueScrape(queue, row.id);
    await expect.poll(async () => (await eventsOf(row.id)).length, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);

    const exit = await worker.stop('SIGTERM', 20_000);
    expect(exit).toEqual({ code: 0, signal: null });

    const done = await waitForFinishedJob(pg.db, row.id, 1_000);
    expect(done.status).toBe('completed');
    const events = await eventsOf(row.id);
    expect(events.at(-1)!.event_type).toBe('job_completed');
    expect(seqs(events)).toEqual(oneToN(events.length));
    // The exit can be seen before the last piped log lines are read.
    await expect.poll(() => worker.lines.at(-1)?.msg).toBe('worker stopped');
    const messages = worker.lines.map((l) => l.msg);
    expect(messages.indexOf('job completed')).toBeGreaterThan(messages.indexOf('worker stopping: finishing active jobs'));
  });
});
