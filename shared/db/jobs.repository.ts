import { sql, type Kysely } from 'kysely';
import type { JobParamsInput } from '../api.js';
import type { Database } from './database.js';
import type { ScrapingJob } from './scraping-jobs.table.js';

/** Repositories are plain functions taking the database (or a transaction) first. */

export async function insertPendingJob(db: Kysely<Database>, params: JobParamsInput): Promise<ScrapingJob> {
  return db
    .insertInto('scraping_jobs')
    .values({ status: 'pending', params: JSON.stringify(params) })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findJob(db: Kysely<Database>, id: number): Promise<ScrapingJob | undefined> {
  return db.selectFrom('scraping_jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function deleteJob(db: Kysely<Database>, id: number): Promise<void> {
  await db.deleteFrom('scraping_jobs').where('id', '=', id).execute();
}

/** seq only moves forward, whatever order updates land in. */
const raiseLastSeq = (seq: number) => sql<number>`greatest(last_seq, ${seq})`;

export async function markJobRunning(db: Kysely<Database>, id: number): Promise<void> {
  await db
    .updateTable('scraping_jobs')
    .set({ status: 'running', error_message: null, started_at: sql`coalesce(started_at, now())`, completed_at: null })
    .where('id', '=', id)
    .execute();
}

export async function recordJobProgress(
  db: Kysely<Database>,
  id: number,
  progress: { progress: number; itemsScraped: number; lastSeq: number },
): Promise<void> {
  await db
    .updateTable('scraping_jobs')
    .set({ progress: progress.progress, items_scraped: progress.itemsScraped, last_seq: raiseLastSeq(progress.lastSeq) })
    .where('id', '=', id)
    .where('status', '=', 'running')
    .execute();
}

export async function markJobCompleted(
  db: Kysely<Database>,
  id: number,
  result: { itemsScraped: number; lastSeq: number },
): Promise<void> {
  await db
    .updateTable('scraping_jobs')
    .set({
      status: 'completed',
      progress: 100,
      items_scraped: result.itemsScraped,
      error_message: null,
      completed_at: sql`now()`,
      last_seq: raiseLastSeq(result.lastSeq),
    })
    .where('id', '=', id)
    // A job that already ended stays as it ended: a worker that lost its lock but carried on
    // must not overwrite the outcome another worker (or the stall limit) decided.
    .where('status', 'in', ['pending', 'running'])
    .execute();
}

export async function markJobFailed(
  db: Kysely<Database>,
  id: number,
  failure: { errorMessage: string; lastSeq: number },
): Promise<void> {
  await db
    .updateTable('scraping_jobs')
    .set({
      status: 'failed',
      error_message: failure.errorMessage,
      completed_at: sql`now()`,
      last_seq: raiseLastSeq(failure.lastSeq),
    })
    .where('id', '=', id)
    .where('status', 'in', ['pending', 'running'])
    .execute();
}

/** Raises the seq floor alone (after an event that changed no other column). */
export async function recordLastSeq(db: Kysely<Database>, id: number, lastSeq: number): Promise<void> {
  await db.updateTable('scraping_jobs').set({ last_seq: raiseLastSeq(lastSeq) }).where('id', '=', id).execute();
}

/** The row's identity (migration 0004), or undefined when there is no such row. */
export async function findJobIdentity(db: Kysely<Database>, id: number): Promise<string | undefined> {
  const row = await db.selectFrom('scraping_jobs').select('identity').where('id', '=', id).executeTakeFirst();
  return row?.identity;
}
