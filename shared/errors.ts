/**
 * Errors with a stable code (for logs, HTTP bodies and close reasons) and a retryable flag
 * (a retryable job error lets BullMQ try again; a non-retryable one fails the job at once).
 */
export class ScoutError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A job's input or row is not usable: trying again cannot help. */
export class InvalidJobError extends ScoutError {
  constructor(message: string, options?: ErrorOptions) {
    super('JOB_INVALID', message, false, options);
  }
}

/** A job that cannot succeed (every scraper task, or more than the configured share, failed). */
export class JobFailedError extends ScoutError {
  constructor(
    message: string,
    /** Figures for job_failed's metadata. */
    readonly details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super('JOB_FAILED', message, false, options);
  }
}

/** One scraper task failed; the orchestrator counts it and goes on. */
export class ScraperError extends ScoutError {
  constructor(
    readonly scraper: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super('SCRAPER_FAILED', message, true, options);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
