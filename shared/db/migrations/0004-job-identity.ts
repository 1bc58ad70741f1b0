import { sql, type Kysely } from 'kysely';

/**
 * A random identity per job row. Job ids restart at 1 when the database is recreated, while Redis
 * may still hold the queue entries and event streams of the old rows with the same ids: the
 * identity, carried in the queue entry and in the stream's live state, tells them apart (an entry
 * or a stream of another identity is treated as absent). Existing rows get one too.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('scraping_jobs')
    .addColumn('identity', 'uuid', (c) => c.notNull().defaultTo(sql`gen_random_uuid()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('scraping_jobs').dropColumn('identity').execute();
}
