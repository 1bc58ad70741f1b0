import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';

const BATCH_SIZE = 500;

/** An offer as a job saw it: the offer's identity and details, and this job's prices. */
export interface OfferObservation {
  source: string;
  origin: string;
  destination: string;
  airline: string;
  airline_code: string;
  outbound_flight_number: string | null;
  return_flight_number: string | null;
  departure_date: string;
  departure_time: string;
  arrival_time: string | null;
  return_date: string | null;
  return_time: string | null;
  return_arrival_time: string | null;
  price_per_person: number;
  total_price: number;
  currency: string;
  booking_url: string;
}

const IDENTITY = ['source', 'origin', 'destination', 'departure_date', 'departure_time', 'outbound_flight_number', 'return_date', 'return_time', 'return_flight_number'] as const;
const identityOf = (o: Record<(typeof IDENTITY)[number], string | null>) => IDENTITY.map((c) => o[c] ?? '').join('|');

/**
 * Stores what a job found, in one transaction: each offer once (an offer another job already
 * stored is only marked seen again), and this job's observation of it (its prices, for its party,
 * with its booking link). Another job's observations are never touched, so a job's results never
 * change because another job ran. Saving again for the same job (a retried or resumed job)
 * replaces its observations with the new ones: a job holds what its last complete run found. The
 * offers must be unique by identity. Returns how many offers the job holds.
 */
export async function saveJobOffers(
  db: Kysely<Database>,
  jobId: number,
  offers: readonly OfferObservation[],
  party: { adults: number; children: number },
  seenAt: Date,
): Promise<number> {
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < offers.length; i += BATCH_SIZE) await saveBatch(trx, jobId, offers.slice(i, i + BATCH_SIZE), party, seenAt);
    // What an earlier run of this job saw and this one did not.
    await trx.deleteFrom('job_offers').where('job_id', '=', jobId).where('seen_at', '<', seenAt).execute();
  });
  return countOffersOfJob(db, jobId);
}

async function saveBatch(
  trx: Kysely<Database>,
  jobId: number,
  batch: readonly OfferObservation[],
  party: { adults: number; children: number },
  seenAt: Date,
): Promise<void> {
  const stored = await trx
    .insertInto('offers')
    .values(
      batch.map((o) => ({
        source: o.source,
        origin: o.origin,
        destination: o.destination,
        airline: o.airline,
        airline_code: o.airline_code,
        outbound_flight_number: o.outbound_flight_number,
        return_flight_number: o.return_flight_number,
        departure_date: o.departure_date,
        departure_time: o.departure_time,
        arrival_time: o.arrival_time,
        return_date: o.return_date,
        return_time: o.return_time,
        return_arrival_time: o.return_arrival_time,
        first_seen_at: seenAt,
        last_seen_at: seenAt,
      })),
    )
    .onConflict((oc) =>
      oc.constraint('offers_identity').doUpdateSet({
        airline: sql`excluded.airline`,
        airline_code: sql`excluded.airline_code`,
        arrival_time: sql`coalesce(excluded.arrival_time, offers.arrival_time)`,
        return_arrival_time: sql`coalesce(excluded.return_arrival_time, offers.return_arrival_time)`,
        last_seen_at: sql`greatest(offers.last_seen_at, excluded.last_seen_at)`,
      }),
    )
    .returning(['id', ...IDENTITY])
    .execute();
  // RETURNING's order is not promised: match rows back by identity.
  const idOf = new Map(stored.map((row) => [identityOf(row), row.id]));
  await trx
    .insertInto('job_offers')
    .values(
      batch.map((o) => ({
        job_id: jobId,
        offer_id: idOf.get(identityOf(o))!,
        price_per_person: o.price_per_person,
        total_price: o.total_price,
        currency: o.currency,
        adults: party.adults,
        children: party.children,
        booking_url: o.booking_url,
        seen_at: seenAt,
      })),
    )
    .onConflict((oc) =>
      oc.columns(['job_id', 'offer_id']).doUpdateSet({
        price_per_person: sql`excluded.price_per_person`,
        total_price: sql`excluded.total_price`,
        currency: sql`excluded.currency`,
        adults: sql`excluded.adults`,
        children: sql`excluded.children`,
        booking_url: sql`excluded.booking_url`,
        seen_at: sql`excluded.seen_at`,
      }),
    )
    .execute();
}

export async function countOffersOfJob(db: Kysely<Database>, jobId: number): Promise<number> {
  const row = await db
    .selectFrom('job_offers')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('job_id', '=', jobId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Where a page ended: the last row's party total and offer id. */
export interface OfferCursor {
  total: string;
  offerId: string;
}

/**
 * One page of a job's offers, cheapest party total first (ties by offer id), after `cursor`:
 * keyset pagination on the (job_id, total_price, offer_id) index, so a page costs the same however
 * deep it is and offers saved meanwhile never shift a page.
 */
export async function pageJobOffers(db: Kysely<Database>, jobId: number, page: { limit: number; after: OfferCursor | null }) {
  let query = db
    .selectFrom('job_offers as jo')
    .innerJoin('offers as o', 'o.id', 'jo.offer_id')
    .select([
      'jo.offer_id',
      'o.source',
      'o.origin',
      'o.destination',
      'o.airline',
      'o.airline_code',
      'o.outbound_flight_number',
      'o.return_flight_number',
      'o.departure_date',
      'o.departure_time',
      'o.arrival_time',
      'o.return_date',
      'o.return_time',
      'o.return_arrival_time',
      'jo.price_per_person',
      'jo.total_price',
      'jo.currency',
      'jo.adults',
      'jo.children',
      'jo.booking_url',
      'jo.seen_at',
    ])
    .where('jo.job_id', '=', jobId);
  if (page.after) {
    const { total, offerId } = page.after;
    query = query.where((eb) => eb(eb.refTuple('jo.total_price', 'jo.offer_id'), '>', eb.tuple(total, offerId)));
  }
  return query.orderBy('jo.total_price').orderBy('jo.offer_id').limit(page.limit).execute();
}
export type JobOfferRow = Awaited<ReturnType<typeof pageJobOffers>>[number];

/** Every observation of an offer, oldest first: its price history across searches. */
export async function priceHistory(db: Kysely<Database>, offerId: string) {
  return db
    .selectFrom('job_offers')
    .select(['job_id', 'price_per_person', 'total_price', 'currency', 'adults', 'children', 'seen_at'])
    .where('offer_id', '=', offerId)
    .orderBy('seen_at')
    .orderBy('job_id')
    .execute();
}
