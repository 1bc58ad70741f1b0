import { UnrecoverableError, type Job } from 'bullmq';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { jobParamsSchema } from '../shared/api.js';
import type { Database } from '../shared/db/database.js';
import { findJob, markJobCompleted, markJobRunning, recordLastSeq } from '../shared/db/jobs.repository.js';
import type { ScrapingJob } from '../shared/db/scraping-jobs.table.js';
import { errorMessage, InvalidJobError, ScoutError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { scrapeJobDataSchema } from '../shared/queue.js';
import { JobAbortedError, ScrapeFailedError } from './errors.js';
import type { JobEventSink } from './events/job-event-sink.js';
import { recordJobFailure } from './job-failure.js';
import { JobProgressRecorder } from './job-progress-recorder.js';
import type { FlightOrchestrator } from './orchestrator/orchestrator.js';
import { ProgressTracker } from './progress-tracker.js';

export interface ScrapeProcessorDeps {
  db: Kysely<Database>;
  sink: JobEventSink;
  orchestrator: FlightOrchestrator;
  log: Logger;
  /** Names this worker in events and logs. */
  workerId: string;
  progressWriteIntervalMs?: number;
}

export interface ScrapeJobResult {
  jobId: number;
  itemsScraped: number;
  successfulScrapers: number;
  failedScrapers: number;
}

type ScrapeProcessor = (job: Job, token?: string, signal?: AbortSignal) => Promise<ScrapeJobResult | null>;

/**
 * The BullMQ processor of the scrape queue: job data → row → orchestrator → flights and events.
 *
 * Error policy: a job that cannot succeed (bad data, no row, too many scrapers failed) is marked
 * failed and thrown as UnrecoverableError so BullMQ does not retry it; anything else (Redis or
 * Postgres away) is rethrown so BullMQ retries with backoff, and on the last attempt the row is
 * marked failed first. A job re-run after a crash or a retry starts its searches again: scrapers
 * are deterministic and saving is idempotent, so it ends with the same rows.
 */
export function createScrapeProcessor(deps: ScrapeProcessorDeps): ScrapeProcessor {
  // Three parameters: BullMQ passes the abort signal only to processors that declare it.
  return async function processScrapeJob(job: Job, _token?: string, signal?: AbortSignal) {
    const data = scrapeJobDataSchema.safeParse(job.data);
    if (!data.success) {
      deps.log.error({ bullJobId: job.id, data: job.data }, 'invalid scrape job data');
      throw new UnrecoverableError(`invalid job data: ${z.prettifyError(data.error)}`);
    }
    const { jobId } = data.data;
    try {
      return await new JobRun(deps, job, jobId, signal).run();
    } finally {
      deps.sink.release(jobId);
    }
  };
}

/** One attempt at one job on this worker. */
class JobRun {
  private readonly log: Logger;
  private readonly recorder: JobProgressRecorder;
  private readonly tracker: ProgressTracker;
  private readonly attempt: number;

  constructor(
    private readonly deps: ScrapeProcessorDeps,
    private readonly job: Job,
    private readonly jobId: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.attempt = job.attemptsStarted || job.attemptsMade + 1;
    this.log = deps.log.child({ jobId, bullJobId: job.id, attempt: this.attempt });
    this.recorder = new JobProgressRecorder(deps.db, jobId, this.log, deps.progressWriteIntervalMs);
    this.tracker = new ProgressTracker(deps.sink, jobId, { onProgress: this.recorder.record });
  }

  async run(): Promise<ScrapeJobResult | null> {
    try {
      const row = await findJob(this.deps.db, this.jobId);
      if (!row) throw new UnrecoverableError(`job ${this.jobId} not found`);
      this.deps.sink.raiseSeqFloor(this.jobId, row.last_seq);
      if (row.status !== 'pending' && row.status !== 'running') {
        await this.finishStream(row);
        return null;
      }
      return await this.scrape(row);
    } catch (error) {
      throw await this.onError(error);
    }
  }

  private async scrape(row: ScrapingJob): Promise<ScrapeJobResult> {
    const { db, sink, orchestrator, workerId } = this.deps;
    const params = jobParamsSchema.safeParse(row.params);
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
        message: `Job resumed by worker ${workerId} (attempt ${this.attempt}); searching again`,
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

    const result = await orchestrator.scrapeAll({
      origins: params.data.origins,
      destinations: params.data.destinations,
      dateRanges: params.data.date_ranges,
      scrapers: params.data.scrapers,
      progress: this.tracker,
      signal: this.signal,
    });
    const saved = await orchestrator.saveToDatabase(result.flights, { jobId: this.jobId });
    const durationSeconds = Math.round((Date.now() - startedAt.getTime()) / 100) / 10;

    // Postgres first: it is the source of truth, and a crash between the two leaves a completed
    // row whose missing job_completed the next delivery of the job emits (finishStream).
    await this.recorder.flush();
    await markJobCompleted(db, this.jobId, { itemsScraped: saved, lastSeq: this.tracker.lastSeq });
    await this.tracker.emitJobCompleted({
      resultsCount: saved,
      message: `Job completed: ${saved} flights saved from ${result.successfulScrapers} of ${result.tasksTotal} searches`,
      metadata: {
        successful_scrapers: result.successfulScrapers,
        failed_scrapers: result.failedScrapers,
        failed_scraper_names: [...new Set(result.failures.map((f) => f.scraper))],
        total_flights: saved,
        raw_flights: result.rawFlights,
        tasks_total: result.tasksTotal,
        duration: durationSeconds,
      },
    });
    await recordLastSeq(db, this.jobId, this.tracker.lastSeq);
    this.log.info({ saved, failedScrapers: result.failedScrapers, durationSeconds }, 'job completed');
    return { jobId: this.jobId, itemsScraped: saved, successfulScrapers: result.successfulScrapers, failedScrapers: result.failedScrapers };
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
      const metadata =
        error instanceof ScrapeFailedError
          ? {
              successful_scrapers: error.summary.successfulScrapers,
              failed_scrapers: error.summary.failedScrapers,
              total_flights: error.summary.totalFlights,
              tasks_total: error.summary.tasksTotal,
            }
          : {};
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
