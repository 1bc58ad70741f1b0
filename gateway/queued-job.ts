import type { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { ScrapingJob } from '../shared/db/scraping-jobs.table.js';
import { queuePlace, type ScrapeJobData } from '../shared/queue.js';

/** What the snapshot and the status endpoint say about a job no worker has taken yet. */
export interface QueuedInfo {
  /** When the job was enqueued (ISO 8601). */
  queued_since: string;
  /** Its place in the queue (1 = next), null when not cheap to know or not in the wait list. */
  queue_position: number | null;
  /** Jobs waiting in the queue, itself included; null with queue_position. */
  queue_length: number | null;
}

export interface QueueSources {
  redis: Redis | Cluster;
  queue: Queue<ScrapeJobData>;
}

/**
 * A pending job's wait: it looks alive to a watcher (connected, 0 %) while nothing happens, so
 * every view says it is queued, since when, and where it stands. null for a job a worker started.
 * The place is best effort: a Redis error leaves it null rather than failing the request.
 */
export async function queuedInfo(sources: QueueSources, row: ScrapingJob): Promise<QueuedInfo | null> {
  if (row.status !== 'pending') return null;
  const place = await queuePlace(sources.redis, sources.queue, row.id).catch(() => null);
  return { queued_since: row.created_at.toISOString(), queue_position: place?.position ?? null, queue_length: place?.waiting ?? null };
}
