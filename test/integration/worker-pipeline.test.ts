import { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countOffersOfJob as countFlightsOfJob } from '../../shared/db/offers.repository.js';
import { findJob, insertPendingJob } from '../../shared/db/jobs.repository.js';
import { createLogger } from '../../shared/logger.js';
import { bullmqJobId, createScrapeQueue, enqueueScrape, type ScrapeJobData } from '../../shared/queue.js';
import { JobEventLog } from '../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { FlightOrchestrator } from '../../worker/orchestrator/orchestrator.js';
import { SimScraper } from '../../worker/scrapers/sim.scraper.js';
import { flightCounts, jobHistory, oneToN, params, seqs, waitForFinishedJob } from '../helpers/jobs.js';
import { startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, redisUrl, serviceEnv, testConfig, type TestDatabase, type TestRedis } from '../helpers/services.js';

describe('worker pipeline: queue → worker process → Postgres and Redis', () => {
  let pg: TestDatabase;
  let t: TestRedis;
  let keys: RedisKeys;
  let queueRedis: Redis;
  let queue: Queue<ScrapeJobData>;
  let worker: ServiceProcess;

  beforeAll(async () => {
    [pg, t] = await Promise.all([createTestDatabase(), createTestRedis()]);
    keys = new RedisKeys(t.keyPrefix);
    // sim-kiwi is down for this whole file: jobs that name it show a failing scraper.
    const env = serviceEnv({ databaseUrl: pg.url, keyPrefix: t.keyPrefix }, { SIM_FAILING_SCRAPERS: 'sim-kiwi', WORKER_CONCURRENCY: '3' });
    queueRedis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
    queue = createScrapeQueue(testConfig(env), queueRedis);
    worker = await startService('worker', env);
  });

  afterAll(async () => {
    await worker?.stop();
    await queue?.close();
    queueRedis?.disconnect();
    await Promise.all([pg?.drop(), t?.cleanup()]);
  });

  async function run(jobParams = params()) {
    const row = await insertPendingJob(pg.db, jobParams);
    await enqueueScrape(queue, row.id);
    const finished = await waitForFinishedJob(pg.db, row.id);
    // The terminal event is emitted right after the row is written.
    await expect.poll(async () => (await jobHistory(t.redis, keys, row.id)).at(-1)?.event_type).toMatch(/^job_(completed|failed)$/);
    return { row: finished, events: await jobHistory(t.redis, keys, row.id) };
  }

  it('runs a job to completed, storing its flights and a gapless, valid event history', async () => {
    const { row, events } = await run(params({ scrapers: ['sim-ryanair', 'sim-wizzair', 'sim-skyscanner'] }));

    expect(row).toMatchObject({ status: 'completed', progress: 100, error_message: null });
    expect(row.started_at).toBeInstanceOf(Date);
    expect(row.completed_at!.getTime()).toBeGreaterThanOrEqual(row.started_at!.getTime());
    expect(row.items_scraped).toBeGreaterThan(0);
    expect(row.items_scraped).toBe(await countFlightsOfJob(pg.db, row.id));
    expect(await flightCounts(pg.db, row.id)).toEqual({ rows: row.items_scraped, offers: row.items_scraped });

    expect(seqs(events)).toEqual(oneToN(events.length));
    // The row's seq floor catches up right after the terminal event is stored.
    await expect.poll(async () => (await findJob(pg.db, row.id))!.last_seq).toBe(events.length);
    expect(new Set(events.map((e) => e.metadata.epoch)).size).toBe(1);
    expect(events.every((e) => e.job_id === row.id)).toBe(true);

    const first = events[0]!;
    expect(first).toMatchObject({ event_type: 'job_started', status: 'running', progress: 0 });
    expect(first.metadata).toMatchObject({ job_type: 'flights', source: 'orchestrator', params: { origins: ['MUC'], destinations: ['BCN', 'LIS'] } });
    const last = events.at(-1)!;
    expect(last).toMatchObject({ event_type: 'job_completed', status: 'completed', progress: 100, results_count: row.items_scraped });
    expect(last.metadata).toMatchObject({ successful_scrapers: 6, failed_scrapers: 0, total_flights: row.items_scraped, duration: expect.any(Number) });

    const types = events.map((e) => e.event_type);
    expect(types.filter((x) => x === 'scraper_started')).toHaveLength(6);
    expect(types.filter((x) => x === 'scraper_completed')).toHaveLength(6);
    expect(types.filter((x) => x === 'job_started' || x === 'job_completed')).toHaveLength(2);
    expect(events.filter((e) => e.event_type === 'job_progress').at(-1)!.progress).toBe(100);
    expect(events.some((e) => e.event_type === 'results_updated')).toBe(true);

    const { state } = await new JobEventLog(t.redis, keys, { maxEvents: 100, retentionSeconds: 60 }).read(row.id);
    expect(state).toMatchObject({ status: 'completed', progress: 100, seq: events.length, results_count: row.items_scraped });
  });

  it('completes a job with one failing scraper and counts the failure', async () => {
    const { row, events } = await run(params());
    expect(row.status).toBe('completed');
    expect(row.items_scraped).toBe(await countFlightsOfJob(pg.db, row.id));
    expect(seqs(events)).toEqual(oneToN(events.length));

    const failed = events.filter((e) => e.event_type === 'scraper_failed');
    expect(failed.map((e) => [e.metadata.scraper, e.metadata.route]).sort()).toEqual([
      ['sim-kiwi', 'MUC→BCN'],
      ['sim-kiwi', 'MUC→LIS'],
    ]);
    expect(failed[0]!.metadata.error).toMatch(/sim-kiwi/);
    expect(events.at(-1)).toMatchObject({
      event_type: 'job_completed',
      metadata: { successful_scrapers: 6, failed_scrapers: 2, failed_scraper_names: ['sim-kiwi'], total_flights: row.items_scraped },
    });
  });

  it('fails a job whose every scraper failed, with the reason, and does not retry it', async () => {
    const { row, events } = await run(params({ scrapers: ['sim-kiwi'] }));
    expect(row.status).toBe('failed');
    expect(row.error_message).toMatch(/every scraper task failed \(2 of 2\).*sim-kiwi/);
    expect(row.completed_at).toBeInstanceOf(Date);
    expect(await countFlightsOfJob(pg.db, row.id)).toBe(0);

    expect(seqs(events)).toEqual(oneToN(events.length));
    expect(events[0]!.event_type).toBe('job_started');
    expect(events.at(-1)).toMatchObject({ event_type: 'job_failed', status: 'failed', metadata: { error: row.error_message, failed_scrapers: 2, successful_scrapers: 0 } });
    expect(events.filter((e) => e.event_type === 'job_failed')).toHaveLength(1);

    const job = (await queue.getJob(bullmqJobId(row.id)))!;
    await expect.poll(() => job.getState()).toBe('failed');
    expect((await queue.getJob(bullmqJobId(row.id)))!.attemptsMade).toBe(1);
  });

  it('fails queue entries it cannot use at once instead of retrying them', async () => {
    const bad = await queue.add('scrape', { jobId: 'seven' } as unknown as ScrapeJobData, { jobId: 'bad-data' });
    const orphan = await queue.add('scrape', { jobId: 999_999 }, { jobId: 'no-row' });
    for (const job of [bad, orphan]) {
      await expect.poll(() => job.getState()).toBe('failed');
      const stored = (await queue.getJob(job.id!))!;
      expect(stored.attemptsMade).toBe(1);
      expect(stored.failedReason).toMatch(job === bad ? /invalid job data/ : /job 999999 not found/);
    }
  });

  it('stores the same flights once, however often they are saved', async () => {
    const row = await insertPendingJob(pg.db, params());
    const orchestrator = new FlightOrchestrator({
      scrapers: new Map(),
      db: pg.db,
      concurrency: 1,
      failureThreshold: 1,
      log: createLogger('test', 'silent'),
    });
    const flights = await new SimScraper('sim-wizzair', { latencyMs: 0, failureRate: 0 }).search({
      origin: 'BER',
      destination: 'OPO',
      departDate: '2026-11-02',
      returnDate: '2026-11-09',
      party: { adults: 2, children: 2 },
      currency: 'EUR',
      signal: new AbortController().signal,
    });
    expect(await orchestrator.saveToDatabase(flights, { jobId: row.id })).toBe(flights.length);
    expect(await orchestrator.saveToDatabase([...flights, ...flights], { jobId: row.id })).toBe(flights.length);
    const repriced = flights.map((f) => ({ ...f, price_per_person: f.price_per_person + 1, total_price: f.total_price + 4 }));
    expect(await orchestrator.saveToDatabase(repriced, { jobId: row.id })).toBe(flights.length);
    expect(await flightCounts(pg.db, row.id)).toEqual({ rows: flights.length, offers: flights.length });
    const prices = await pg.db.selectFrom('flights').select('price').where('scraping_job_id', '=', row.id).orderBy('outbound_flight_number').execute();
    expect(prices.map((p) => Number(p.price))).toEqual(
      [...repriced].sort((a, b) => a.outbound_flight_number!.localeCompare(b.outbound_flight_number!)).map((f) => f.price_per_person),
    );
  });
});
