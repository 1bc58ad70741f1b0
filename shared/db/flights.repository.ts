import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';
import type { NewFlight } from './flights.table.js';

const BATCH_SIZE = 500;

/**
 * Saves flights idempotently: an offer already stored (same source, route, flight numbers and
 * dates) is updated to the newest price and job instead of stored twice. Returns how many offers
 * the job now owns from this call.
 */
export async function upsertFlights(db: Kysely<Database>, flights: readonly NewFlight[]): Promise<number> {
  let saved = 0;
  for (let i = 0; i < flights.length; i += BATCH_SIZE) {
    const batch = flights.slice(i, i + BATCH_SIZE);
    const rows = await db
      .insertInto('flights')
      .values(batch)
      .onConflict((oc) =>
        oc.constraint('flights_offer_unique').doUpdateSet({
          price: sql`excluded.price`,
          currency: sql`excluded.currency`,
          departure_time: sql`excluded.departure_time`,
          return_time: sql`excluded.return_time`,
          airline: sql`excluded.airline`,
          booking_url: sql`excluded.booking_url`,
          scraping_job_id: sql`excluded.scraping_job_id`,
          scraped_at: sql`excluded.scraped_at`,
        }),
      )
      .returning('id')
      .execute();
    saved += rows.length;
  }
  return saved;
}

export async function countFlightsOfJob(db: Kysely<Database>, jobId: number): Promise<number> {
  const row = await db
    .selectFrom('flights')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('scraping_job_id', '=', jobId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
