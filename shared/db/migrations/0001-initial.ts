import { sql, type Kysely } from 'kysely';

// Migrations take Kysely<any>: they are frozen in time and must not follow later table types.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('scraping_jobs')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('job_type', 'text', (c) => c.notNull().defaultTo('flights'))
    .addColumn('source', 'text', (c) => c.notNull().defaultTo('orchestrator'))
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('pending', 'running', 'completed', 'failed', 'cancelled')`),
    )
    .addColumn('items_scraped', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error_message', 'text')
    .addColumn('params', 'jsonb', (c) => c.notNull())
    .addColumn('progress', 'real', (c) => c.notNull().defaultTo(0))
    .addColumn('last_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('started_at', 'timestamptz')
    .addColumn('completed_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('flights')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('origin', 'char(3)', (c) => c.notNull())
    .addColumn('destination', 'char(3)', (c) => c.notNull())
    .addColumn('airline', 'text', (c) => c.notNull())
    .addColumn('outbound_flight_number', 'text', (c) => c.notNull())
    .addColumn('return_flight_number', 'text')
    .addColumn('departure_date', 'date', (c) => c.notNull())
    .addColumn('departure_time', 'text', (c) => c.notNull())
    .addColumn('return_date', 'date')
    .addColumn('return_time', 'text')
    .addColumn('price', 'numeric(10, 2)', (c) => c.notNull())
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('booking_url', 'text', (c) => c.notNull())
    .addColumn('scraping_job_id', 'integer', (c) => c.notNull().references('scraping_jobs.id').onDelete('cascade'))
    .addColumn('scraped_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // One row per offer: the same source, flights and dates saved again update it instead.
    .addUniqueConstraint(
      'flights_offer_unique',
      ['source', 'origin', 'destination', 'outbound_flight_number', 'departure_date', 'return_flight_number', 'return_date'],
      (c) => c.nullsNotDistinct(),
    )
    .execute();

  await db.schema.createIndex('flights_scraping_job_id_idx').on('flights').column('scraping_job_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('flights').execute();
  await db.schema.dropTable('scraping_jobs').execute();
}
