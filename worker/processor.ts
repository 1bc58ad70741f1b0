import { UnrecoverableError, type Job } from 'bullmq';
import { z } from 'zod';
import { scrapeJobDataSchema } from '../shared/queue.js';
import { JobRun, type JobRunDeps, type JobRunResult } from './jobs/job-run.js';

export type ScrapeProcessorDeps = JobRunDeps;
export type ScrapeJobResult = JobRunResult;

type ScrapeProcessor = (job: Job, token?: string, signal?: AbortSignal) => Promise<ScrapeJobResult | null>;

/**
 * The BullMQ processor of the scrape queue: job data → the job's row → its kind's run
 * (worker/jobs/), with the lifecycle and failure policy of JobRun.
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

