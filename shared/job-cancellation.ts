import { z } from 'zod';
import type { EventDraft } from './events.js';
import { jobIdSchema } from './events.js';

/** The terminal event's message and the row's error_message of a cancelled job. */
export const JOB_CANCELLED_MESSAGE = 'Job cancelled';

/** The abort reason a worker gives a cancelled job's signal (tells it apart from a lost lock). */
export const CANCEL_REASON = 'job cancelled';

/** What travels on the cancel channel (RedisKeys.cancelChannel): the job's id. */
export const cancelNoticeSchema = z.object({ jobId: jobIdSchema });
export type CancelNotice = z.infer<typeof cancelNoticeSchema>;

/**
 * The one terminal event of a cancelled job, whoever emits it (the gateway for a job no worker
 * holds, the worker for the job it was running). event_type `job_failed` with status `cancelled`:
 * the seed's clients end their loop only on job_completed or job_failed, so a new event type
 * would leave them waiting forever; the status says what happened.
 */
export function cancelledEventDraft(progress: number | null, resultsCount: number, metadata: Record<string, unknown> = {}): EventDraft {
  return {
    event_type: 'job_failed',
    status: 'cancelled',
    progress,
    results_count: resultsCount,
    message: JOB_CANCELLED_MESSAGE,
    metadata: { error: JOB_CANCELLED_MESSAGE, cancelled: true, ...metadata },
    timestamp: new Date().toISOString(),
  };
}
