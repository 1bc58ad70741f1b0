import { JobFailedError, ScoutError } from '../shared/errors.js';

/** What a job's scraper tasks came to; carried by the failure so job_failed can report it. */
export interface ScrapeSummary {
  tasksTotal: number;
  successfulScrapers: number;
  failedScrapers: number;
  totalFlights: number;
}

/** Too many scraper tasks failed (all of them, or more than the configured share). */
export class ScrapeFailedError extends JobFailedError {
  constructor(
    message: string,
    readonly summary: ScrapeSummary,
  ) {
    super(message, {
      successful_scrapers: summary.successfulScrapers,
      failed_scrapers: summary.failedScrapers,
      total_flights: summary.totalFlights,
      tasks_total: summary.tasksTotal,
    });
  }
}

/**
 * The job was taken away from this worker (its lock was lost, or it was cancelled) while running.
 * Retryable: whoever holds the job now finishes it; this worker only stops.
 */
export class JobAbortedError extends ScoutError {
  constructor(message: string, options?: ErrorOptions) {
    super('JOB_ABORTED', message, true, options);
  }
}
