import type { Redis } from 'ioredis';
import { sql, type Kysely } from 'kysely';
import { expect } from 'vitest';
import type { JobParamsInput as JobParams } from '../../shared/api.js';
import type { Database } from '../../shared/db/database.js';
import { findJob } from '../../shared/db/jobs.repository.js';
import type { ScrapingJob } from '../../shared/db/scraping-jobs.table.js';
import { scrapingEventSchema, type ScrapingEvent } from '../../shared/events.js';
import type { RedisKeys } from '../../shared/redis/keys.js';

/** Polls the job row until it is completed or failed. */
export async function waitForFinishedJob(db: Kysely<Database>, jobId: number, timeoutMs = 30_000): Promise<ScrapingJob> {
  await expect
    .poll(async () => (await findJob(db, jobId))?.status, { timeout: timeoutMs, interval: 50 })
    .toMatch(/^(completed|failed)$/);
  return (await findJob(db, jobId))!;
}

/** The job's event history in Redis, each event parsed with the shared schema (throws on any invalid one). */
export async function jobHistory(redis: Redis, keys: RedisKeys, jobId: number): Promise<ScrapingEvent[]> {
  const raw = await redis.lrange(keys.jobHistory(jobId), 0, -1);
  return raw.map((event) => scrapingEventSchema.parse(JSON.parse(event)));
}

/** Stored flights of a job, and how many distinct offers (the uniqueness key of the table) they are. */
export async function flightCounts(db: Kysely<Database>, jobId: number): Promise<{ rows: number; offers: number }> {
  const row = await db
    .selectFrom('flights')
    .select([
      sql<string>`count(*)`.as('rows'),
      sql<string>`count(distinct (source, origin, destination, outbound_flight_number, departure_date, return_flight_number, return_date))`.as('offers'),
    ])
    .where('scraping_job_id', '=', jobId)
    .executeTakeFirstOrThrow();
  return { rows: Number(row.rows), offers: Number(row.offers) };
}

export const seqs = (events: ScrapingEvent[]) => events.map((e) => e.seq);
export const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

export function params(over: Partial<JobParams> = {}): JobParams {
  return {
    origins: ['MUC'],
    destinations: ['BCN', 'LIS'],
    date_ranges: [['2026-12-20', '2026-12-27']],
    scrapers: ['sim-ryanair', 'sim-wizzair', 'sim-skyscanner', 'sim-kiwi'],
    ...over,
  };
}
