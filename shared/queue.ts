import { Queue, type ConnectionOptions } from 'bullmq';
import { z } from 'zod';
import { jobIdSchema } from './events.js';
import type { Config } from './config.js';
import { RedisKeys } from './redis/keys.js';

/** Data of one BullMQ job on the scrape queue: only the id; the parameters live in Postgres. */
export const scrapeJobDataSchema = z.object({ jobId: jobIdSchema });
export type ScrapeJobData = z.infer<typeof scrapeJobDataSchema>;

export function bullmqJobId(jobId: number): string {
  return `job-${jobId}`;
}

export function createScrapeQueue(config: Config, connection: ConnectionOptions): Queue<ScrapeJobData> {
  return new Queue<ScrapeJobData>(config.queueName, {
    connection,
    prefix: new RedisKeys(config.keyPrefix).bullmqPrefix,
    defaultJobOptions: {
      attempts: config.worker.attempts,
      backoff: { type: 'exponential', delay: config.worker.backoffMs },
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 5000 },
    },
  });
}

export async function enqueueScrape(queue: Queue<ScrapeJobData>, jobId: number): Promise<void> {
  await queue.add('scrape', { jobId }, { jobId: bullmqJobId(jobId) });
}
