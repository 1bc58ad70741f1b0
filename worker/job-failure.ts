import type { Kysely } from 'kysely';
import type { Database } from '../shared/db/database.js';
import { markJobFailed, recordLastSeq } from '../shared/db/jobs.repository.js';
import type { ProgressTracker } from './progress-tracker.js';

export interface JobFailure {
  /** Why, for people: the row's error_message and the event's metadata.error. */
  reason: string;
  metadata?: Record<string, unknown>;
}

/**
 * Ends a job as failed. Postgres first, since it is the source of truth; then job_failed on the
 * job's stream through its tracker, so the seq continues; then the seq that event got goes on the
 * row. Both the processor and the worker's handler of failures BullMQ decides alone end jobs here.
 */
export async function recordJobFailure(db: Kysely<Database>, tracker: ProgressTracker, failure: JobFailure): Promise<void> {
  await markJobFailed(db, tracker.jobId, { errorMessage: failure.reason, lastSeq: tracker.lastSeq });
  await tracker.emitJobFailed({ error: failure.reason, metadata: failure.metadata });
  await recordLastSeq(db, tracker.jobId, tracker.lastSeq);
}
