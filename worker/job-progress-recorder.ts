import type { Kysely } from 'kysely';
import type { Database } from '../shared/db/database.js';
import { recordJobProgress } from '../shared/db/jobs.repository.js';
import type { Logger } from '../shared/logger.js';
import type { ProgressSnapshot } from './progress-tracker.js';

/**
 * Copies a running job's progress, results count and last seq to its Postgres row, at most once
 * per interval: the polling endpoint reads them, and last_seq is the floor a job's seq restarts
 * above if Redis loses its stream. Writes are advisory (the terminal transition writes the final
 * values), so a failed write is logged and the job goes on.
 */
export class JobProgressRecorder {
  private inFlight: Promise<void> | null = null;
  private lastWriteAt = -Infinity;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly jobId: number,
    private readonly log: Logger,
    private readonly intervalMs = 500,
  ) {}

  readonly record = (snapshot: ProgressSnapshot): void => {
    const now = Date.now();
    if (this.inFlight || now - this.lastWriteAt < this.intervalMs) return;
    this.lastWriteAt = now;
    this.inFlight = recordJobProgress(this.db, this.jobId, {
      progress: snapshot.progress,
      itemsScraped: snapshot.resultsCount,
      lastSeq: snapshot.lastSeq,
    })
      .catch((error: unknown) => this.log.warn({ err: error }, 'could not record job progress'))
      .finally(() => {
        this.inFlight = null;
      });
  };

  /** Waits for a write in flight, so a terminal update lands after it. */
  async flush(): Promise<void> {
    await this.inFlight;
  }
}
