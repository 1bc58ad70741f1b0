import { UnrecoverableError, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { findJob, markJobCancelled } from '../../shared/db/jobs.repository.js';
import { CANCEL_REASON, JOB_CANCELLED_MESSAGE } from '../../shared/job-cancellation.js';
import { createLogger } from '../../shared/logger.js';
import { MemoryEventSink } from '../../worker/events/memory-event-sink.js';
import { jobKinds, type JobKind } from '../../worker/jobs/job-kind.js';
import { createScrapeProcessor } from '../../worker/processor.js';
import { oneToN, seqs } from '../helpers/jobs.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';

const bullJob = (jobId: number) => ({ id: `job-${jobId}`, data: { jobId }, attemptsMade: 0, attemptsStarted: 1, opts: { attempts: 3 } }) as unknown as Job;
const terminal = (events: { event_type: string }[]) => events.filter((e) => e.event_type === 'job_completed' || e.event_type === 'job_failed');

/**
 * The worker's side of a cancel, in process: whether the notice arrives (the signal aborts with
 * the cancel reason) or is lost (only the row says cancelled), the job ends with one terminal
 * event of status cancelled, after everything it emitted, and never completed.
 */
describe('cancel in the job lifecycle (in process, real Postgres)', () => {
  let pg: TestDatabase;
  const log = createLogger('test', 'silent');
  const insert = async () =>
    (await pg.db.insertInto('scraping_jobs').values({ status: 'pending', job_type: 'steps', params: JSON.stringify({ steps: 3 }) as never }).returning('id').executeTakeFirstOrThrow()).id;

  beforeAll(async () => {
    pg = await createTestDatabase();
  });
  afterAll(() => pg?.drop());

  /** A kind that reports `steps` progress events, calling `during` after the first, then waits on its signal a little. */
  function stepsKind(during: (jobId: number) => Promise<void>): JobKind<{ steps: number }> {
    return {
      name: 'steps',
      paramsSchema: z.object({ steps: z.number() }),
      async run({ jobId, params, progress, signal }) {
        for (let i = 1; i <= params.steps; i++) {
          await progress.emitJobProgress({ progress: i * 10 });
          if (i === 1) await during(jobId);
          await new Promise((resolve) => setTimeout(resolve, 20));
          if (signal?.aborted) throw signal.reason;
        }
        return { resultsCount: params.steps, message: 'done', metadata: {} };
      },
    };
  }

  it('a lost notice: the run finishes its work, does not record it as completed, and ends the stream cancelled', async () => {
    const sink = new MemoryEventSink();
    const process = createScrapeProcessor({
      db: pg.db,
      sink,
      kinds: jobKinds(stepsKind(async (jobId) => void (await markJobCancelled(pg.db, jobId, JOB_CANCELLED_MESSAGE)))),
      log,
      workerId: 'w',
    });
    const id = await insert();
    await expect(process(bullJob(id))).rejects.toBeInstanceOf(UnrecoverableError);
    const events = sink.events(id);
    expect(seqs(events)).toEqual(oneToN(events.length));
    expect(terminal(events)).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ event_type: 'job_failed', status: 'cancelled', message: JOB_CANCELLED_MESSAGE });
    expect(await findJob(pg.db, id)).toMatchObject({ status: 'cancelled', last_seq: events.length });
  });

  it('the notice: the signal aborts with the cancel reason, the run stops, one cancelled terminal event, no retry', async () => {
    const sink = new MemoryEventSink();
    const controller = new AbortController();
    const process = createScrapeProcessor({
      db: pg.db,
      sink,
      kinds: jobKinds(
        stepsKind(async (jobId) => {
          await markJobCancelled(pg.db, jobId, JOB_CANCELLED_MESSAGE);
          controller.abort(CANCEL_REASON);
        }),
      ),
      log,
      workerId: 'w',
    });
    const id = await insert();
    await expect(process(bullJob(id), undefined, controller.signal)).rejects.toBeInstanceOf(UnrecoverableError);
    const events = sink.events(id);
    expect(events.map((e) => e.event_type)).toEqual(['job_started', 'job_progress', 'job_failed']);
    expect(events.at(-1)).toMatchObject({ status: 'cancelled', progress: 10 });
    expect(await findJob(pg.db, id)).toMatchObject({ status: 'cancelled', last_seq: 3 });
  });

  it('a job cancelled before a worker took it runs nothing and gets its one terminal event; a second delivery adds none', async () => {
    const sink = new MemoryEventSink();
    let ran = false;
    const process = createScrapeProcessor({ db: pg.db, sink, kinds: jobKinds(stepsKind(async () => void (ran = true))), log, workerId: 'w' });
    const id = await insert();
    await markJobCancelled(pg.db, id, JOB_CANCELLED_MESSAGE);
    expect(await process(bullJob(id))).toBeNull();
    expect(await process(bullJob(id))).toBeNull();
    expect(ran).toBe(false);
    expect(sink.events(id).map((e) => [e.event_type, e.status])).toEqual([['job_failed', 'cancelled']]);
  });
});
