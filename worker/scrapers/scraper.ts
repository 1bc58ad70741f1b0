import { z } from 'zod';

const isoDate = z.iso.date();
const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM');
const iata = z.string().regex(/^[A-Z]{3}$/);
const money = z.number().positive().max(99_999_999).multipleOf(0.01);

/**
 * One offer as a fare source returns it. Sources are the boundary to the outside world, so the
 * orchestrator parses what they return with this schema instead of trusting it.
 *
 * Prices: `price_per_person` is what one traveller pays, `total_price` what the whole party
 * (the job's adults + children) pays; sources quote one or the other and derive the second
 * (worker/scrapers/party-price.ts). Offers are ranked by `total_price`, and only offers in the
 * job's `currency` are kept: nothing is ever converted.
 */
export const scrapedFlightSchema = z.object({
  origin: iata,
  destination: iata,
  /** The airline's name as the source gives it (its IATA code when that is all there is). */
  airline: z.string().min(1).max(100),
  /** IATA airline designator, e.g. FR, W6, U2. */
  airline_code: z.string().regex(/^[A-Z0-9]{2}$/),
  /** Null when the source does not say (WizzAir's timetable gives departure times only). */
  outbound_flight_number: z.string().min(1).max(20).nullable(),
  return_flight_number: z.string().min(1).max(20).nullable(),
  /** Dates and times are local to the airport, as fare sources give them. */
  departure_date: isoDate,
  departure_time: clockTime,
  arrival_time: clockTime.nullable(),
  return_date: isoDate.nullable(),
  return_time: clockTime.nullable(),
  return_arrival_time: clockTime.nullable(),
  price_per_person: money,
  total_price: money,
  currency: z.string().regex(/^[A-Z]{3}$/),
  /** The source that found the offer. */
  source: z.string().min(1),
  booking_url: z.url({ protocol: /^https?$/ }),
});
export type ScrapedFlight = z.infer<typeof scrapedFlightSchema>;

/** Who travels: the party's total is what a family pays. */
export interface Party {
  adults: number;
  children: number;
}

export interface SearchRequest {
  origin: string;
  destination: string;
  /** YYYY-MM-DD */
  departDate: string;
  /** YYYY-MM-DD, or null for a one-way search. */
  returnDate: string | null;
  party: Party;
  /** ISO 4217; passed to every source that takes it. */
  currency: string;
  /** Aborts the search: the promise rejects promptly with the signal's reason. */
  signal: AbortSignal;
}

/**
 * A fare source. `search` resolves with the offers for one route and date range, rejects with a
 * ScraperError (a SourceError for real sources, naming the kind of failure) when the source
 * fails, and rejects with `signal.reason` as soon as it is aborted. Implementations hold no
 * per-job state, so one instance serves every job of a worker.
 */
export interface Scraper {
  readonly name: string;
  search(request: SearchRequest): Promise<ScrapedFlight[]>;
}
