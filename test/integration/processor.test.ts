import { UnrecoverableError, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { countOffersOfJob as countFlightsOfJob } from '../../shared/db/offers.repository.js';
import { findJob, insertPendingJob, markJobCompleted, markJobRunning, recordLastSeq } from '../../shared/db/jobs.repository.js';
import type { EventDraft } from '../../shared/events.js';
import { createLogger } from '../../shared/logger.js';
import { MemoryEventSink } from '../../worker/events/memory-event-sink.js';
import { FlightOrchestrator } from '../../worker/orchestrator/orchestrator.js';
import { createScrapeProcessor } from '../../worker/processor.js';
import { flightSearchKind } from '../../worker/jobs/flight-search.kind.js';
import { jobKinds, type JobKind } from '../../worker/jobs/job-kind.js';
import { oneToN, params, seqs } from '../helpers/jobs.js';
import { configuredScrapers } from '../helpers/scrapers.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';

/** The fields of a BullMQ job the processor reads. */
const bullJob = (jobId: number, attempt: { made?: number; attempts?: number } = {}) =>
  ({ id: `job-${jobId}`, data: { jobId }, attemptsMade: attempt.made ?? 0, attemptsStarted: (attempt.made ?? 0) + 1, opts: { attempts: attempt.attempts ?? 3 } }) as unknown as Job;

describe('scrape processor (in process, real Postgres, in-memory events)', () => {
  let pg: TestDatabase;
  const log = createLogger('test', 'silent');

  beforeAll(async () => {
    pg = await createTestDatabase();
  });
  afterAll(() => pg?.drop());

  function setup(sink = new MemoryEventSink()) {
    const orchestrator = new FlightOrchestrator({ scrapers: configuredScrapers({ SCRAPER_LATENCY_MS: '0' }), db: pg.db, concurrency: 4, failureThreshold: 1, log });
    return { sink, process: createScrapeProcessor({ db: pg.db, sink, kinds: jobKinds(flightSearchKind(orchestrator)), log, workerId: 'w-test' }) };
  }

  it('resumes a job another worker started: a resume notice instead of a second job_started, seq continuing', async () => {
    const { sink, process } = setup();
    const row = await insertPendingJob(pg.db, params({ destinations: ['BCN'] }));
    // A previous worker marked it running and emitted two events before dying.
    await markJobRunning(pg.db, row.id);
    await sink.emit(row.id, { event_type: 'job_started', status: 'running', progress: 0, results_count: 0, message: 'x', metadata: {}, timestamp: new Date().toISOString() });
    await sink.emit(row.id, { event_type: 'scraper_started', status: 'running', progress: null, results_count: 0, message: 'x', metadata: {}, timestamp: new Date().toISOString() });

    const result = await process(bullJob(row.id, { made: 1 }));
    expect(result).toMatchObject({ jobId: row.id, failedScrapers: 0, successfulScrapers: 4 });
    const events = sink.events(row.id);
    expect(seqs(events)).toEqual(oneToN(events.length));
    expect(events.filter((e) => e.event_type === 'job_started')).toHaveLength(1);
    expect(events[2]).toMatchObject({ event_type: 'job_progress', progress: 0, metadata: { resumed: true, worker: 'w-test', attempt: 2 } });
    expect(events.at(-1)!.event_type).toBe('job_completed');
    const done = (await findJob(pg.db, row.id))!;
    expect(done).toMatchObject({ status: 'completed', last_seq: events.length, items_scraped: result!.itemsScraped });
  });

  it('runs any kind of job through the same lifecycle: its schema, its run, its outcome; an unknown kind fails the job', async () => {
    const sink = new MemoryEventSink();
    const echo: JobKind<{ words: string[] }> = {
      name: 'echo',
      paramsSchema: z.object({ words: z.array(z.string()).min(1) }),
      async run({ params: p, progress }) {
        await progress.emitJobProgress({ progress: 50, resultsCount: p.words.length, message: p.words.join(' ') });
        return { resultsCount: p.words.length, message: `echoed ${p.words.length} words`, metadata: { words: p.words } };
      },
    };
    const process = createScrapeProcessor({ db: pg.db, sink, kinds: jobKinds(echo), log, workerId: 'w-test' });
    const insert = (jobType: string) =>
      pg.db.insertInto('scraping_jobs').values({ status: 'pending', job_type: jobType, params: JSON.stringify({ words: ['hello', 'kinds'] }) as never }).returning('id').executeTakeFirstOrThrow();

    const row = await insert('echo');
    expect(await process(bullJob(row.id))).toEqual({ jobId: row.id, itemsScraped: 2 });
    expect(sink.events(row.id).map((e) => [e.event_type, e.message])).toEqual([
      ['job_started', `Job ${row.id} started`],
      ['job_progress', 'hello kinds'],
      ['job_completed', 'echoed 2 words'],
    ]);
    expect(sink.events(row.id)[0]!.metadata).toMatchObject({ job_type: 'echo', params: { words: ['hello', 'kinds'] } });
    expect(sink.events(row.id)[2]!.metadata).toMatchObject({ words: ['hello', 'kinds'], duration: expect.any(Number) });
    expect(await findJob(pg.db, row.id)).toMatchObject({ status: 'completed', items_scraped: 2 });

    const unknown = await insert('hotels');
    await expect(process(bullJob(unknown.id))).rejects.toBeInstanceOf(UnrecoverableError);
    expect(await findJob(pg.db, unknown.id)).toMatchObject({ status: 'failed', error_message: expect.stringContaining('unknown kind "hotels"') });
    expect(sink.events(unknown.id).at(-1)).toMatchObject({ event_type: 'job_failed', metadata: { code: 'JOB_INVALID' } });
  });

  it('numbers events above the row\'s last_seq when the event stream was lost', async () => {
    const { sink, process } = setup();
    const row = await insertPendingJob(pg.db, params({ destinations: ['LIS'], scrapers: ['sim-ryanair'] }));
    await markJobRunning(pg.db, row.id);
    await recordLastSeq(pg.db, row.id, 17);

    await process(bullJob(row.id, { made: 1 }));
    const events = sink.events(row.id);
    expect(events[0]).toMatchObject({ seq: 18, event_type: 'job_progress', metadata: { resumed: true } });
    expect(seqs(events)).toEqual(events.map((_, i) => 18 + i));
    expect((await findJob(pg.db, row.id))!.last_seq).toBe(events.at(-1)!.seq);
  });

  it('emits the missing terminal event of a job whose row is already completed, and runs nothing', async () => {
    const { sink, process } = setup();
    const row = await insertPendingJob(pg.db, params());
    await markJobCompleted(pg.db, row.id, { itemsScraped: 12, lastSeq: 30 });

    expect(await process(bullJob(row.id))).toBeNull();
    expect(sink.events(row.id).map((e) => [e.seq, e.event_type, e.results_count])).toEqual([[31, 'job_completed', 12]]);
    expect(await countFlightsOfJob(pg.db, row.id)).toBe(0);
    // Delivered again: the stream already ends with it.
    await process(bullJob(row.id));
    expect(sink.events(row.id)).toHaveLength(1);
  });

  it('lets BullMQ retry when a dependency fails, and marks the job failed on the last attempt', async () => {
    const memory = new MemoryEventSink();
    let failNext = false;
    const flaky = Object.assign(Object.create(memory) as MemoryEventSink, {
      emit: (jobId: number, draft: EventDraft) => {
        if (failNext && draft.event_type === 'scraper_completed') {
          failNext = false;
          return Promise.reject(new Error('connection reset'));
        }
        return memory.emit(jobId, draft);
      },
    });
    const { process } = setup(flaky);
    const row = await insertPendingJob(pg.db, params({ destinations: ['OPO'] }));

    failNext = true;
    const retried = await process(bullJob(row.id, { made: 0, attempts: 2 })).catch((e: unknown) => e);
    expect(retried).toBeInstanceOf(Error);
    expect(retried).not.toBeInstanceOf(UnrecoverableError);
    expect((await findJob(pg.db, row.id))!.status).toBe('running');

    failNext = true;
    await expect(process(bullJob(row.id, { made: 1, attempts: 2 }))).rejects.toThrow('connection reset');
    const failed = (await findJob(pg.db, row.id))!;
    expect(failed).toMatchObject({ status: 'failed', error_message: 'gave up after 2 attempts: connection reset' });
    expect(memory.events(row.id).at(-1)).toMatchObject({ event_type: 'job_failed', metadata: { error: failed.error_message } });
  });

  it('fails a job with unusable parameters without retrying', async () => {
    const { sink, process } = setup();
    const row = await insertPendingJob(pg.db, params());
    await pg.db.updateTable('scraping_jobs').set({ params: JSON.stringify({ origins: [] }) }).where('id', '=', row.id).execute();
    await expect(process(bullJob(row.id))).rejects.toBeInstanceOf(UnrecoverableError);
    expect((await findJob(pg.db, row.id))!).toMatchObject({ status: 'failed', error_message: expect.stringMatching(/invalid parameters/) });
    expect(sink.events(row.id).map((e) => e.event_type)).toEqual(['job_failed']);
  });
});
