import { sql, type Kysely } from 'kysely';

/**
 * Offers apart from the jobs that saw them. Until now a flight row belonged to the last job that
 * found it: saving an offer again rewrote its `scraping_job_id`, so a second search of a route
 * took the first one's flights away. Now:
 * - `offers` holds each offer once (source, route, flights, dates and times), whoever found it;
 * - `job_offers` holds what one job saw of one offer: its price per person and for the party, in
 *   the job's currency, with the booking link for that party. An offer seen by two jobs has two
 *   rows, each with the price that job saw; together they are the offer's price history.
 * - `flights` becomes a read-only view of the two, with the old columns (price = per person), for
 *   whoever still reads it.
 * Existing flights are carried over: each becomes an offer and its job's observation. They were
 * searched before parties existed, for the default family (2 adults, 2 children), with prices per
 * person, so their party total is four times their price.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('offers')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('origin', 'char(3)', (c) => c.notNull())
    .addColumn('destination', 'char(3)', (c) => c.notNull())
    .addColumn('airline', 'text', (c) => c.notNull())
    .addColumn('airline_code', 'char(2)', (c) => c.notNull())
    .addColumn('outbound_flight_number', 'text')
    .addColumn('return_flight_number', 'text')
    .addColumn('departure_date', 'date', (c) => c.notNull())
    .addColumn('departure_time', 'text', (c) => c.notNull())
    .addColumn('arrival_time', 'text')
    .addColumn('return_date', 'date')
    .addColumn('return_time', 'text')
    .addColumn('return_arrival_time', 'text')
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint(
      'offers_identity',
      ['source', 'origin', 'destination', 'departure_date', 'departure_time', 'outbound_flight_number', 'return_date', 'return_time', 'return_flight_number'],
      (c) => c.nullsNotDistinct(),
    )
    .execute();

  await db.schema
    .createTable('job_offers')
    .addColumn('job_id', 'integer', (c) => c.notNull().references('scraping_jobs.id').onDelete('cascade'))
    .addColumn('offer_id', 'bigint', (c) => c.notNull().references('offers.id').onDelete('cascade'))
    .addColumn('price_per_person', 'numeric(10, 2)', (c) => c.notNull())
    .addColumn('total_price', 'numeric(12, 2)', (c) => c.notNull())
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('adults', 'smallint', (c) => c.notNull())
    .addColumn('children', 'smallint', (c) => c.notNull())
    .addColumn('booking_url', 'text', (c) => c.notNull())
    .addColumn('seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('job_offers_pk', ['job_id', 'offer_id'])
    .execute();
  // A job's offers cheapest first, paged by (total_price, offer_id): GET /api/jobs/{id}/flights.
  await db.schema.createIndex('job_offers_by_price').on('job_offers').columns(['job_id', 'total_price', 'offer_id']).execute();
  // An offer's price history across jobs.
  await db.schema.createIndex('job_offers_by_offer').on('job_offers').columns(['offer_id', 'seen_at']).execute();

  // The old rows are unique by a subset of the new identity, so each becomes one offer (same id).
  await sql`
    insert into offers (id, source, origin, destination, airline, airline_code, outbound_flight_number, return_flight_number,
                        departure_date, departure_time, return_date, return_time, first_seen_at, last_seen_at)
    select id, source, origin, destination, airline, upper(left(outbound_flight_number, 2)), outbound_flight_number, return_flight_number,
           departure_date, departure_time, return_date, return_time, scraped_at, scraped_at
    from flights`.execute(db);
  await sql`select setval(pg_get_serial_sequence('offers', 'id'), greatest((select max(id) from offers), 1))`.execute(db);
  await sql`
    insert into job_offers (job_id, offer_id, price_per_person, total_price, currency, adults, children, booking_url, seen_at)
    select scraping_job_id, id, price, price * 4, currency, 2, 2, booking_url, scraped_at
    from flights`.execute(db);
  await db.schema.dropTable('flights').execute();
  await sql`
    create view flights as
    select o.id, o.origin, o.destination, o.airline, o.airline_code, o.outbound_flight_number, o.return_flight_number,
           o.departure_date, o.departure_time, o.arrival_time, o.return_date, o.return_time, o.return_arrival_time,
           jo.price_per_person as price, jo.total_price, jo.currency, o.source, jo.booking_url,
           jo.job_id as scraping_job_id, jo.seen_at as scraped_at
    from job_offers jo join offers o on o.id = jo.offer_id`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop view flights`.execute(db);
  // Back to one row per offer, owned by the last job that saw it (what the old table could hold).
  await sql`
    create table flights as
    select distinct on (o.id) o.id, o.origin, o.destination, o.airline, coalesce(o.outbound_flight_number, o.airline_code) as outbound_flight_number,
           o.return_flight_number, o.departure_date, o.departure_time, o.return_date, o.return_time,
           jo.price_per_person as price, jo.currency, o.source, jo.booking_url, jo.job_id as scraping_job_id, jo.seen_at as scraped_at
    from offers o join job_offers jo on jo.offer_id = o.id
    order by o.id, jo.seen_at desc`.execute(db);
  await db.schema.dropTable('job_offers').execute();
  await db.schema.dropTable('offers').execute();
}
