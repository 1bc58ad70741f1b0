import type { Job } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findJob, insertPendingJob, markJobCompleted, markJobFailed, markJobRunning, recordJobProgress } from '../../shared/db/jobs.repository.js';
import type { EventDraft } from '../../shared/events.js';
import { createLogger } from '../../shared/logger.js';
import { bullmqJobId, enqueueScrape } from '../../shared/queue.js';
import { MemoryEventSink } from '../../worker/events/memory-event-sink.js';
import { FinalFailureHandler } from '../../worker/final-failure-handler.js';
import { oneToN, params, seqs, waitForFinishedJob } from '../helpers/jobs.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { startWorkerFixture, type WorkerFixture } from '../helpers/worker-fixture.js';

const STALLED = new Error('job stalled more than allowable limit');
const STALL_REASON = "the job's worker was lost more times than allowed (job stalled more than allowable limit)";

/** The fields of a BullMQ job the handler reads; finishedOn is set only when BullMQ gave up on it. */
const bullJob = (jobId: number, state: { final: boolean; attemptsMade?: number; stalledCounter?: number }) =>
  ({
    id: bullmqJobId(jobId),
    data: { jobId },
    finishedOn: state.final ? Date.now() : undefined,
    attemptsMade: state.attemptsMade ?? 1,
    stalledCounter: state.stalledCounter ?? 2,
  }) as unknown as Job;

const draft = (event_type: EventDraft['event_type'], status: EventDraft['status'] = 'running'): EventDraft => ({
  event_type,
  status,
  progress: null,
  results_count: 0,
  message: event_type,
  metadata: {},
  timestamp: new Date().toISOString(),
});

describe('final failure handler (in process, real Postgres, in-memory events)', () => {
  let pg: TestDatabase;
  const log = createLogger('test', 'silent');

  beforeAll(async () => {
    pg = await createTestDatabase();
  });
  afterAll(() => pg?.drop());

  function setup() {
    const sink = new MemoryEventSink();
    return { sink, handler: new FinalFailureHandler({ db: pg.db, sink, log }) };
  }

  /** A job another worker started, got halfway through and lost: row running, three events. */
  async function abandonedJob(sink: MemoryEventSink) {
    const row = await insertPendingJob(pg.db, params());
    await markJobRunning(pg.db, row.id);
    for (const type of ['job_started', 'scraper_started', 'job_progress'] as const) await sink.emit(row.id, draft(type));
    await recordJobProgress(pg.db, row.id, { progress: 40, itemsScraped: 7, lastSeq: 3 });
    return row.id;
  }

  it('fails the row and emits one job_failed after the stream\'s last seq, with the progress the job reached', async () => {
    const { sink, handler } = setup();
    const jobId = await abandonedJob(sink);

    expect(await handler.handle(bullJob(jobId, { final: true }), STALLED)).toBe('recorded');
    expect(await findJob(pg.db, jobId)).toMatchObject({ status: 'failed', error_message: STALL_REASON, last_seq: 4 });
    expect(sink.events(jobId).at(-1)).toMatchObject({
      seq: 4,
      event_type: 'job_failed',
      status: 'failed',
      progress: 40,
      results_count: 7,
      metadata: { error: STALL_REASON, code: 'JOB_STALLED', stalled_count: 2, attempts_made: 1 },
    });

    // Told again (or by another worker): the row is final, nothing more happens.
    expect(await handler.handle(bullJob(jobId, { final: true }), STALLED)).toBe('already finished');
    expect(seqs(sink.events(jobId))).toEqual(oneToN(4));
  });

  it('leaves alone a job BullMQ will retry', async () => {
    const { sink, handler } = setup();
    const jobId = await abandonedJob(sink);
    expect(await handler.handle(bullJob(jobId, { final: false }), new Error('connection reset'))).toBe('retrying');
    expect((await findJob(pg.db, jobId))!.status).toBe('running');
    expect(sink.events(jobId)).toHaveLength(3);
  });

  it('leaves alone a job the processor already ended', async () => {
    const { sink, handler } = setup();
    const completed = await insertPendingJob(pg.db, params());
    await markJobCompleted(pg.db, completed.id, { itemsScraped: 5, lastSeq: 9 });
    const failed = await insertPendingJob(pg.db, params());
    await markJobFailed(pg.db, failed.id, { errorMessage: 'every search failed', lastSeq: 9 });

    expect(await handler.handle(bullJob(completed.id, { final: true }), STALLED)).toBe('already finished');
    expect(await handler.handle(bullJob(failed.id, { final: true }), new Error('every search failed'))).toBe('already finished');
    expect(await findJob(pg.db, completed.id)).toMatchObject({ status: 'completed', error_message: null });
    expect(await findJob(pg.db, failed.id)).toMatchObject({ status: 'failed', error_message: 'every search failed' });
    expect(sink.events(completed.id)).toEqual([]);
    expect(sink.events(failed.id)).toEqual([]);
  });

  it('marks the row but emits nothing when the stream already ends with job_failed', async () => {
    const { sink, handler } = setup();
    const jobId = await abandonedJob(sink);
    await sink.emit(jobId, draft('job_failed', 'failed'));

    expect(await handler.handle(bullJob(jobId, { final: true }), STALLED)).toBe('row marked');
    expect(await findJob(pg.db, jobId)).toMatchObject({ status: 'failed', error_message: STALL_REASON, last_seq: 4 });
    expect(sink.events(jobId).map((e) => e.event_type)).toEqual(['job_started', 'scraper_started', 'job_progress', 'job_failed']);
  });
});

/**
 * BullMQ gives up on a job whose worker keeps dying: past maxStalledCount its stalled check
 * marks the job with a deferred failure, and the next worker to take it fails it without
 * running the processor. The row and the stream must still end.
 */
describe('a job whose workers die more often than the stall limit allows', () => {
  let f: WorkerFixture;

  beforeAll(async () => {
    // One attempt, so the stall limit is 1 (maxStalledCount = max(1, attempts)). A run lasts about
    // 3 s (32 searches of 200 ms, two at a time); a dead worker's lock expires after 1 s and the
    // stalled check runs twice a second.
    f = await startWorkerFixture({
      JOB_ATTEMPTS: '1',
      SCRAPER_LATENCY_MS: '200',
      ORCHESTRATOR_CONCURRENCY: '2',
      JOB_LOCK_DURATION_MS: '1000',
      JOB_STALLED_INTERVAL_MS: '500',
    });
  });
  afterEach(() => f.killAll());
  afterAll(() => f?.close());

  it('ends failed, with the reason in the row and one job_failed continuing the seq', async () => {
    const row = await insertPendingJob(f.pg.db, params({ origins: ['MUC', 'VIE'], date_ranges: [['2026-12-20', '2026-12-27'], ['2027-01-03', '2027-01-10']] }));
    const first = await f.start('worker-a');
    await enqueueScrape(f.queue, row.id);
    await expect.poll(async () => (await f.eventsOf(row.id)).some((e) => e.event_type === 'scraper_completed'), { timeout: 10_000 }).toBe(true);
    await first.stop('SIGKILL');

    // Stall 1 (within the limit): the next worker takes the job over and searches again …
    const second = await f.start('worker-b');
    await expect.poll(async () => (await f.eventsOf(row.id)).some((e) => e.metadata.resumed === true), { timeout: 10_000 }).toBe(true);
    await second.stop('SIGKILL');
    const beforeLimit = await f.eventsOf(row.id);
    expect(beforeLimit.some((e) => e.event_type === 'job_failed' || e.event_type === 'job_completed')).toBe(false);

    // … stall 2 (past it): BullMQ fails the job on the worker that takes it next.
    const third = await f.start('worker-c');
    const failed = await waitForFinishedJob(f.pg.db, row.id, 10_000);
    expect(failed).toMatchObject({
      status: 'failed',
      error_message: "the job's worker was lost more times than allowed (job stalled more than allowable limit)",
    });
    expect(failed.completed_at).not.toBeNull();

    await expect.poll(async () => (await f.eventsOf(row.id)).at(-1)?.event_type).toBe('job_failed');
    const events = await f.eventsOf(row.id);
    expect(seqs(events)).toEqual(oneToN(events.length));
    expect(events.slice(0, beforeLimit.length)).toEqual(beforeLimit);
    expect(events.slice(beforeLimit.length).map((e) => e.event_type)).toEqual(['job_failed']);
    expect(events.at(-1)).toMatchObject({
      status: 'failed',
      metadata: { error: failed.error_message, code: 'JOB_STALLED', stalled_count: 2 },
    });
    await expect.poll(async () => (await waitForFinishedJob(f.pg.db, row.id)).last_seq).toBe(events.length);

    // BullMQ failed it without calling our processor on the third worker.
    const bullJob = (await f.queue.getJob(bullmqJobId(row.id)))!;
    expect(await bullJob.getState()).toBe('failed');
    expect(bullJob).toMatchObject({ failedReason: 'job stalled more than allowable limit', stalledCounter: 2 });
    await third.waitForLog('job failed for good');
    expect(third.lines.map((l) => l.msg)).not.toContain('job resumed');
  });
});
