import type { ColumnType, Generated, Insertable, JSONColumnType, Selectable, Updateable } from 'kysely';
import type { JobStatus } from '../events.js';
import type { JobParamsInput } from '../api.js';

export interface ScrapingJobsTable {
  id: Generated<number>;
  job_type: Generated<string>;
  source: Generated<string>;
  status: JobStatus;
  items_scraped: Generated<number>;
  error_message: string | null;
  /** The validated request: origins, destinations, date ranges, scrapers, party and currency. */
  params: JSONColumnType<JobParamsInput>;
  progress: Generated<number>;
  /** Highest event seq this job is known to have emitted: the floor when Redis lost the stream. */
  last_seq: Generated<number>;
  started_at: Date | null;
  completed_at: Date | null;
  created_at: ColumnType<Date, never, never>;
  /** The API key that created the job; null for jobs created with auth off. */
  /** Random per row: binds the job's queue entry and event stream to this row (migration 0004). */
  identity: Generated<string>;
  owner_key_id: ColumnType<number | null, number | null | undefined, number | null>;
}

export type ScrapingJob = Selectable<ScrapingJobsTable>;
export type NewScrapingJob = Insertable<ScrapingJobsTable>;
export type ScrapingJobUpdate = Updateable<ScrapingJobsTable>;
