import { UnrecoverableError, type Job } from 'bullmq';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../shared/db/database.js';
import { findJob, markJobCompleted, markJobRunning, recordLastSeq } from '../../shared/db/jobs.repository.js';
import type { ScrapingJob } from '../../shared/db/scraping-jobs.table.js';
import { errorMessage, InvalidJobError, JobFailedError, ScoutError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { JobAbortedError } from '../errors.js';
import type { JobEventSink } from '../events/job-event-sink.js';
import { recordJobFailure } from '../job-failure.js';
import { JobProgressRecorder } from '../job-progress-recorder.js';
import { ProgressTracker } from '../progress-tracker.js';
import type { JobKinds } from './job-kind.js';

export interface JobRunDeps {
  db: Kysely<Database>;
  sink: JobEventSink;
  /** Every kind of job this worker runs, by the row's job_type. */
  kinds: JobKinds;
  log: Logger;
  /** Names this worker in events and logs. */
  workerId: string;
  progressWriteIntervalMs?: number;
}

export interface JobRunResult {
  jobId: number;
  itemsScraped: number;
  [figure: string]: number;
}

/**
 * One attempt at one job on this worker: the lifecycle every kind of job shares.
 *
 * Error policy: a job that cannot succeed (bad data, no row, an unknown kind, a kind's
 * non-retryable failure such as too many scrapers failing) is marked failed and thrown as
 * UnrecoverableError so BullMQ does not retry it; anything else (Redis or Postgres away) is
 * rethrown so BullMQ retries with backoff, and on the last attempt the row is marked failed
 * first. A job re-run after a crash or a retry runs again from the start: kinds' runs are
 * repeatable (the flight search searches again and its save replaces what an earlier run of the
 * job stored), so a job ends with one set of results, never two.
 */
export class JobRun {
  private readonly log: Logger;
  private readonly recorder: JobProgressRecorder;
  private readonly tracker: ProgressTracker;
  private readonly attempt: number;

  constructor(
    private readonly deps: JobRunDeps,
    private readonly job: Job,
    private readonly jobId: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.attempt = job.attemptsStarted || job.attemptsMade + 1;
    this.log = deps.log.child({ jobId, bullJobId: job.id, attempt: this.attempt });
    this.recorder = new JobProgressRecorder(deps.db, jobId, this.log, deps.progressWriteIntervalMs);
    this.tracker = new ProgressTracker(deps.sink, jobId, { onProgress: this.recorder.record });
  }

  async run(): Promise<JobRunResult | null> {
    try {
      const row = await findJob(this.deps.db, this.jobId);
      if (!row) throw new UnrecoverableError(`job ${this.jobId} not found`);
      const queued = (this.job.data as { identity?: unknown } | undefined)?.identity;
      if (typeof queued === 'string' && queued !== row.identity) {
        // Queued for another row of the same id (the database was recreated): not this job's run.
        this.log.warn({ queued, identity: row.identity }, 'queue entry of another job row; skipped');
        return null;
      }
      this.deps.sink.bindIdentity(this.jobId, row.identity);
      this.deps.sink.raiseSeqFloor(this.jobId, row.last_seq);
      if (row.status !== 'pending' && row.status !== 'running') {
        await this.finishStream(row);
        return null;
      }
      return await this.runKind(row);
    } catch (error) {
      throw await this.onError(error);
    }
  }

  private async runKind(row: ScrapingJob): Promise<JobRunResult> {
    const { db, sink, workerId } = this.deps;
    const kind = this.deps.kinds.get(row.job_type);
    if (!kind) throw new InvalidJobError(`job ${this.jobId} is of an unknown kind "${row.job_type}"`);
    const params = kind.paramsSchema.safeParse(row.params);
    if (!params.success) throw new InvalidJobError(`job ${this.jobId} has invalid parameters: ${z.prettifyError(params.error)}`);
    const startedAt = row.started_at ?? new Date();

    // A job whose stream already began was started before: a retry, or a stalled job handed on
    // after its worker died. It gets a job_progress, not a second job_started: clients (and the
    // live state's started_at) treat job_started as the job's one beginning.
    const head = await sink.head(this.jobId);
    const resumed = head !== null || row.last_seq > 0;
    await markJobRunning(db, this.jobId);
    if (resumed) {
      this.log.info({ previousSeq: head?.seq ?? row.last_seq }, 'job resumed');
      await this.tracker.emitJobProgress({
        progress: 0,
        resultsCount: 0,
        message: `Job resumed by worker ${workerId} (attempt ${this.attempt}); running it again`,
        metadata: { resumed: true, worker: workerId, attempt: this.attempt },
      });
    } else {
      this.log.info('job started');
      await this.tracker.emitJobStarted({
        jobType: row.job_type,
        source: row.source,
        params: params.data,
        metadata: { worker: workerId, attempt: this.attempt },
      });
    }
    await recordLastSeq(db, this.jobId, this.tracker.lastSeq);

    const outcome = await kind.run({ jobId: this.jobId, params: params.data, progress: this.tracker, signal: this.signal, log: this.log });
    const durationSeconds = Math.round((Date.now() - startedAt.getTime()) / 100) / 10;

    // Postgres first: it is the source of truth, and a crash between the two leaves a completed
    // row whose missing job_completed the next delivery of the job emits (finishStream).
    await this.recorder.flush();
    await markJobCompleted(db, this.jobId, { itemsScraped: outcome.resultsCount, lastSeq: this.tracker.lastSeq });
    await this.tracker.emitJobCompleted({
      resultsCount: outcome.resultsCount,
      message: outcome.message,
      metadata: { ...outcome.metadata, duration: durationSeconds },
    });
    await recordLastSeq(db, this.jobId, this.tracker.lastSeq);
    this.log.info({ results: outcome.resultsCount, ...outcome.summary, durationSeconds }, 'job completed');
    return { ...outcome.summary, jobId: this.jobId, itemsScraped: outcome.resultsCount };
  }

  /** Turns any error of the attempt into what BullMQ should see, marking the job failed when it will not be retried. */
  private async onError(error: unknown): Promise<unknown> {
    if (error instanceof UnrecoverableError) return error;
    if (this.signal?.aborted) {
      // The job was taken from this worker (lock lost or cancelled): whoever has it now finishes it.
      this.log.warn({ reason: String(this.signal.reason) }, 'job aborted on this worker');
      return new JobAbortedError(`job ${this.jobId} aborted: ${String(this.signal.reason)}`, { cause: error });
    }
    const message = errorMessage(error);
    if (error instanceof ScoutError && !error.retryable) {
      this.log.warn({ code: error.code, err: message }, 'job failed');
      const metadata = error instanceof JobFailedError ? error.details : {};
      await this.fail(message, { code: error.code, ...metadata });
      return new UnrecoverableError(message);
    }
    const attempts = this.job.opts.attempts ?? 1;
    if (this.job.attemptsMade + 1 >= attempts) {
      this.log.error({ err: error, attempts }, 'job failed on its last attempt');
      try {
        await this.fail(`gave up after ${attempts} attempts: ${message}`, { code: error instanceof ScoutError ? error.code : 'INTERNAL' });
      } catch (markError) {
        // The same outage may stop the bookkeeping too; BullMQ still records the failure.
        this.log.error({ err: markError }, 'could not mark the job failed');
      }
    } else {
      this.log.warn({ err: error, attemptsMade: this.job.attemptsMade, attempts }, 'job attempt failed; BullMQ will retry');
    }
    return error;
  }

  private async fail(reason: string, metadata: Record<string, unknown>): Promise<void> {
    await this.recorder.flush();
    await recordJobFailure(this.deps.db, this.tracker, { reason, metadata });
  }

  /**
   * A delivery of a job whose row is already final: the previous worker died between writing
   * the row and emitting the terminal event. Emits that event if the stream lacks it.
   */
  private async finishStream(row: ScrapingJob): Promise<void> {
    const head = await this.deps.sink.head(this.jobId);
    if (head?.status === row.status) {
      this.log.info({ status: row.status }, 'job already finished');
      return;
    }
    if (row.status === 'completed') {
      await this.tracker.emitJobCompleted({ resultsCount: row.items_scraped, metadata: { total_flights: row.items_scraped, recovered: true } });
    } else if (row.status === 'failed') {
      await this.tracker.emitJobFailed({ error: row.error_message ?? 'failed', metadata: { recovered: true } });
    } else {
      this.log.info({ status: row.status }, 'job is no longer runnable');
      return;
    }
    await recordLastSeq(this.deps.db, this.jobId, this.tracker.lastSeq);
    this.log.info({ status: row.status }, 'terminal event re-emitted for a finished job');
  }
}
