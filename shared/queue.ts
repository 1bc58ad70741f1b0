import { Queue, type ConnectionOptions } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { z } from 'zod';
import { jobIdSchema } from './events.js';
import type { Config } from './config.js';
import { RedisKeys } from './redis/keys.js';

/**
 * Data of one BullMQ job on the scrape queue: the id and the row's identity (absent in entries
 * queued before identities existed); the parameters live in Postgres.
 */
export const scrapeJobDataSchema = z.object({ jobId: jobIdSchema, identity: z.string().min(1).optional() });
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

/**
 * Queues a job's run. BullMQ ignores an add whose id it already holds, so an entry left by another
 * row of the same id (the database was recreated, Redis kept its data; usually a finished entry)
 * is removed first: otherwise the new job would never run. An entry another worker holds locked
 * cannot be removed: that error reaches the caller.
 */
export async function enqueueScrape(queue: Queue<ScrapeJobData>, jobId: number, identity?: string): Promise<void> {
  const id = bullmqJobId(jobId);
  if (identity !== undefined) await removeForeignEntry(queue, id, identity);
  await queue.add('scrape', identity === undefined ? { jobId } : { jobId, identity }, { jobId: id });
}

/** Tries to remove a locked entry this often, this far apart: a worker skipping it lets go at once. */
const LOCKED_REMOVE_ATTEMPTS = 20;
const LOCKED_REMOVE_PAUSE_MS = 100;

/**
 * Removes the queue's entry with this BullMQ id when it belongs to another job row (a database
 * recreated under a Redis that kept its queue): BullMQ ignores an add whose id it already holds.
 * An entry a worker holds (it is skipping it, or, rarely, still running the old row) cannot be
 * removed until its lock is gone: try again for up to two seconds, then give up with BullMQ's error.
 */
async function removeForeignEntry(queue: Queue<ScrapeJobData>, id: string, identity: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const existing = await queue.getJob(id);
    if (!existing || existing.data?.identity === identity) return;
    try {
      await existing.remove();
      return;
    } catch (error) {
      if (attempt >= LOCKED_REMOVE_ATTEMPTS || !/locked/i.test(String((error as Error).message))) throw error;
      await new Promise((resolve) => setTimeout(resolve, LOCKED_REMOVE_PAUSE_MS));
    }
  }
}

/** Where a waiting job stands: 1 = the next one a worker takes, of `waiting` jobs in the queue. */
export interface QueuePlace {
  position: number;
  waiting: number;
}

/** How far from the front a job is looked for: a longer scan is not worth a status request. */
const PLACE_SCAN_LIMIT = 1000;

/**
 * A job's place in the queue's wait list, or null when it is not waiting there (a worker has it,
 * it is delayed for a retry, or it is further back than PLACE_SCAN_LIMIT). BullMQ pushes new jobs
 * on the left of its wait list and workers take them from the right, so the scan starts at the
 * right end (RANK -1) and stops after PLACE_SCAN_LIMIT entries: cheap whatever the queue's size.
 */
export async function queuePlace(redis: Redis | Cluster, queue: Queue<ScrapeJobData>, jobId: number): Promise<QueuePlace | null> {
  const wait = queue.keys.wait!; // BullMQ names its own keys
  const [index, length] = await Promise.all([redis.lpos(wait, bullmqJobId(jobId), 'RANK', -1, 'MAXLEN', PLACE_SCAN_LIMIT), redis.llen(wait)]);
  if (index === null) return null;
  return { position: length - index, waiting: length };
}
