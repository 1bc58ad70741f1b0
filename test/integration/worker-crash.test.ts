import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JobParamsInput as JobParams } from '../../shared/api.js';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { createLogger } from '../../shared/logger.js';
import { enqueueScrape } from '../../shared/queue.js';
import { MemoryEventSink } from '../../worker/events/memory-event-sink.js';
import { FlightOrchestrator } from '../../worker/orchestrator/orchestrator.js';
import { ProgressTracker } from '../../worker/progress-tracker.js';
import { flightCounts, oneToN, params, seqs, waitForFinishedJob } from '../helpers/jobs.js';
import { configuredScrapers } from '../helpers/scrapers.js';
import { type TestDatabase } from '../helpers/services.js';
import { startWorkerFixture, type WorkerFixture } from '../helpers/worker-fixture.js';

/** What an uninterrupted run of the job finds: the deduplicated flights of its deterministic scrapers. */
async function expectedFlights(db: TestDatabase['db'], jobParams: JobParams): Promise<number> {
  const orchestrator = new FlightOrchestrator({
    scrapers: configuredScrapers({ SCRAPER_LATENCY_MS: '0' }),
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
  let f: WorkerFixture;

  beforeAll(async () => {
    // Slow searches, two at a time, so a job lasts seconds; a dead worker's lock expires after 2 s.
    f = await startWorkerFixture({ SCRAPER_LATENCY_MS: '200', ORCHESTRATOR_CONCURRENCY: '2', JOB_LOCK_DURATION_MS: '2000', JOB_STALLED_INTERVAL_MS: '1000' });
  });
  afterEach(() => f.killAll());
  afterAll(() => f?.close());

  it('hands the job of a SIGKILLed worker to another, which finishes it without duplicates or seq gaps', async () => {
    const jobParams = params({ origins: ['MUC', 'VIE'], date_ranges: [['2026-12-20', '2026-12-27'], ['2027-01-03', '2027-01-10']] });
    const first = await f.start('worker-a');
    const row = await insertPendingJob(f.pg.db, jobParams);
    await enqueueScrape(f.queue, row.id);

    // Mid-job: started, and some searches reported, but far from done (32 tasks).
    await expect.poll(async () => (await f.eventsOf(row.id)).filter((e) => e.event_type === 'scraper_completed').length, { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    expect((await first.stop('SIGKILL')).signal).toBe('SIGKILL');
    const beforeKill = await f.eventsOf(row.id);
    expect(beforeKill.some((e) => e.event_type === 'job_completed')).toBe(false);
    expect((await f.pg.db.selectFrom('flights').select('id').where('scraping_job_id', '=', row.id).execute()).length).toBe(0);
    const second = await f.start('worker-b');

    const finished = await waitForFinishedJob(f.pg.db, row.id, 30_000);
    expect(finished.status).toBe('completed');
    await second.waitForLog('job resumed');
    await expect.poll(async () => (await f.eventsOf(row.id)).at(-1)?.event_type).toBe('job_completed');

    const events = await f.eventsOf(row.id);
    expect(seqs(events)).toEqual(oneToN(events.length));
    expect(events.length).toBeGreaterThan(beforeKill.length);
    expect(events.slice(0, beforeKill.length)).toEqual(beforeKill);
    expect(new Set(events.map((e) => e.metadata.epoch)).size).toBe(1);
    expect(events.filter((e) => e.event_type === 'job_started')).toHaveLength(1);
    const resumed = events.find((e) => e.metadata.resumed === true)!;
    expect(resumed).toMatchObject({ event_type: 'job_progress', message: expect.stringMatching(/^Job resumed by worker/) });
    expect(resumed.seq).toBeGreaterThan(beforeKill.length);

    const expected = await expectedFlights(f.pg.db, jobParams);
    expect(finished.items_scraped).toBe(expected);
    expect(await flightCounts(f.pg.db, row.id)).toEqual({ rows: expected, offers: expected });
    expect(events.at(-1)).toMatchObject({ results_count: expected, metadata: { total_flights: expected, failed_scrapers: 0, tasks_total: 32 } });
  });

  it('on SIGTERM finishes the active job, then exits 0', async () => {
    const worker = await f.start('worker-c');
    const row = await insertPendingJob(f.pg.db, params({ destinations: ['BCN', 'LIS', 'OPO'] }));
    await enqueueScrape(f.queue, row.id);
    await expect.poll(async () => (await f.eventsOf(row.id)).length, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);

    const exit = await worker.stop('SIGTERM', 20_000);
    expect(exit).toEqual({ code: 0, signal: null });

    const done = await waitForFinishedJob(f.pg.db, row.id, 1_000);
    expect(done.status).toBe('completed');
    const events = await f.eventsOf(row.id);
    expect(events.at(-1)!.event_type).toBe('job_completed');
    expect(seqs(events)).toEqual(oneToN(events.length));
    // The exit can be seen before the last piped log lines are read.
    await expect.poll(() => worker.lines.at(-1)?.msg, { timeout: 10_000 }).toBe('worker stopped');
    const messages = worker.lines.map((l) => l.msg);
    expect(messages.indexOf('job completed')).toBeGreaterThan(messages.indexOf('worker stopping: finishing active jobs'));
  });
});
