import type { Job } from 'bullmq';
import type { Kysely } from 'kysely';
import type { Database } from '../shared/db/database.js';
import { findJob, markJobFailed } from '../shared/db/jobs.repository.js';
import type { Logger } from '../shared/logger.js';
import { scrapeJobDataSchema } from '../shared/queue.js';
import type { JobEventSink } from './events/job-event-sink.js';
import { recordJobFailure, type JobFailure } from './job-failure.js';
import { ProgressTracker } from './progress-tracker.js';

export interface FinalFailureDeps {
  db: Kysely<Database>;
  /** The processor's sink: one seq memory per job in this process. */
  sink: JobEventSink;
  log: Logger;
}

/** What handling one 'failed' event came to. */
export type FinalFailureOutcome = 'retrying' | 'unknown job' | 'already finished' | 'row marked' | 'recorded';

/** Failures BullMQ decides itself, in the words a person reading the job gets. */
const BULLMQ_FAILURES: Record<string, { code: string; explanation: string }> = {
  'job stalled more than allowable limit': { code: 'JOB_STALLED', explanation: "the job's worker was lost more times than allowed" },
};

/**
 * Ends the row and stream of every job BullMQ fails for good, whoever decided it.
 *
 * The processor records the failures it decides. BullMQ also fails jobs without calling it: its
 * stalled check gives a job whose lock expired more than maxStalledCount times a deferred failure
 * and moves it back to wait (moveStalledJobsToWait-9.lua), and the next worker to take the job
 * moves it to failed as an UnrecoverableError and emits 'failed' (Worker.processJob). This handler
 * listens to 'failed' and does the processor's bookkeeping for such jobs. It is idempotent: a row
 * already completed, failed or cancelled is left alone, and a stream whose last event is already
 * terminal gets no second one.
 */
export class FinalFailureHandler {
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly deps: FinalFailureDeps) {}

  /** The worker's 'failed' listener. Never rejects: a failure it cannot record is logged. */
  readonly onFailed = (job: Job | undefined, error: Error): void => {
    if (!job) {
      this.deps.log.warn({ err: error.message }, 'a job BullMQ no longer holds failed');
      return;
    }
    const log = this.deps.log.child({ bullJobId: job.id });
    if (!isFinal(job)) {
      log.warn({ err: error.message, attemptsMade: job.attemptsMade }, 'job attempt failed');
      return;
    }
    log.warn({ err: error.message, attemptsMade: job.attemptsMade, stalledCount: job.stalledCounter }, 'job failed for good');
    const handled = this.handle(job, error).catch((recordError: unknown) => log.error({ err: recordError }, 'could not record the job as failed'));
    this.inFlight.add(handled);
    void handled.finally(() => this.inFlight.delete(handled));
  };

  /** Records one failure if it is final and the job's row has not ended; says what it did. */
  async handle(job: Job, error: Error): Promise<FinalFailureOutcome> {
    if (!isFinal(job)) return 'retrying';
    const data = scrapeJobDataSchema.safeParse(job.data);
    // The processor already logged and refused such a job: it names no row.
    if (!data.success) return 'unknown job';
    const { db, sink } = this.deps;
    const { jobId } = data.data;
    const log = this.deps.log.child({ jobId, bullJobId: job.id });

    const row = await findJob(db, jobId);
    if (!row) {
      log.warn('failed job has no row');
      return 'unknown job';
    }
    if (row.status !== 'pending' && row.status !== 'running') return 'already finished';

    const failure = describeFailure(job, error);
    sink.raiseSeqFloor(jobId, row.last_seq);
    try {
      const head = await sink.head(jobId);
      if (head?.eventType === 'job_failed' || head?.eventType === 'job_completed') {
        await markJobFailed(db, jobId, { errorMessage: failure.reason, lastSeq: head.seq });
        log.info({ seq: head.seq, lastEvent: head.eventType }, 'job marked failed; its stream had already ended');
        return 'row marked';
      }
      const tracker = new ProgressTracker(sink, jobId, { start: { progress: row.progress, resultsCount: row.items_scraped } });
      await recordJobFailure(db, tracker, failure);
      log.info({ seq: tracker.lastSeq, reason: failure.reason }, 'job marked failed and job_failed emitted');
      return 'recorded';
    } finally {
      sink.release(jobId);
    }
  }

  /** Resolves once every failure being recorded is done, so the connections it uses can close. */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }
}

/**
 * Whether BullMQ moved the job to failed rather than scheduling a retry: Job.moveToFailed sets
 * finishedOn only then.
 */
function isFinal(job: Job): boolean {
  return job.finishedOn !== undefined && job.finishedOn !== null;
}

function describeFailure(job: Job, error: Error): JobFailure {
  const known = BULLMQ_FAILURES[error.message];
  const metadata = { attempts_made: job.attemptsMade, stalled_count: job.stalledCounter };
  if (known) return { reason: `${known.explanation} (${error.message})`, metadata: { code: known.code, ...metadata } };
  return { reason: error.message, metadata: { code: 'INTERNAL', ...metadata } };
}
