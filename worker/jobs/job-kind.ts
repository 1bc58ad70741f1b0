import type { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import type { ProgressTracker } from '../progress-tracker.js';

/** What a kind of job gets for one run; the lifecycle around it is not its concern. */
export interface JobRunContext<P> {
  jobId: number;
  /** The job's stored parameters, parsed with the kind's schema. */
  params: P;
  /** The job's event helpers: the kind reports its progress and results here. */
  progress: ProgressTracker;
  /** Aborted when the job is taken away from this worker; the run then rejects promptly. */
  signal: AbortSignal | undefined;
  log: Logger;
}

/** How a run ended well: job_completed's results count, message and metadata. */
export interface JobOutcome {
  resultsCount: number;
  message: string;
  metadata: Record<string, unknown>;
  /** Figures returned to BullMQ as the job's result, beside its id and results count. */
  summary?: Record<string, number>;
}

/**
 * A kind of job: its parameters' schema and what running it does. The worker's lifecycle
 * (worker/jobs/job-run.ts) does the rest the same way for every kind: the row, resume after a
 * crash, job_started or "resumed", terminal events and the failure policy. A run that cannot
 * succeed throws a non-retryable ScoutError (a JobFailedError's details go into job_failed's
 * metadata); anything else is retried by BullMQ. Runs must be safe to repeat: a job re-run after
 * a crash starts again.
 */
export interface JobKind<P = unknown> {
  /** The job row's `job_type`. */
  readonly name: string;
  readonly paramsSchema: z.ZodType<P>;
  run(context: JobRunContext<P>): Promise<JobOutcome>;
}

export type JobKinds = ReadonlyMap<string, JobKind<any>>;

export function jobKinds(...kinds: JobKind<any>[]): JobKinds {
  return new Map(kinds.map((kind) => [kind.name, kind]));
}
