import { z } from 'zod';
import type { NewFlight } from '../../shared/db/flights.table.js';

const isoDate = z.iso.date();
const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM');
const iata = z.string().regex(/^[A-Z]{3}$/);

/**
 * One offer as a fare source returns it: a row of the flights table without the job it belongs to.
 * Scrapers are the boundary to the outside world (real sources later), so the orchestrator
 * parses what they return with this schema instead of trusting it.
 */
export const scrapedFlightSchema = z.object({
  origin: iata,
  destination: iata,
  airline: z.string().min(1).max(100),
  outbound_flight_number: z.string().min(1).max(20),
  return_flight_number: z.string().min(1).max(20).nullable(),
  departure_date: isoDate,
  departure_time: clockTime,
  return_date: isoDate.nullable(),
  return_time: clockTime.nullable(),
  /** In `currency`, at most two decimals. */
  price: z.number().positive().max(99_999_999).multipleOf(0.01),
  currency: z.string().regex(/^[A-Z]{3}$/),
  /** The scraper that found the offer. */
  source: z.string().min(1),
  booking_url: z.url({ protocol: /^https?$/ }),
});
export type ScrapedFlight = z.infer<typeof scrapedFlightSchema>;

// A scraped flight plus its job is a flights row: keep the two shapes from drifting apart.
type Assignable<T extends U, U> = T;
export type ScrapedFlightIsARow = Assignable<ScrapedFlight & Pick<NewFlight, 'scraping_job_id'>, NewFlight>;

export interface SearchRequest {
  origin: string;
  destination: string;
  /** YYYY-MM-DD */
  departDate: string;
  /** YYYY-MM-DD, or null for a one-way search. */
  returnDate: string | null;
  /** Aborts the search: the promise rejects promptly with the signal's reason. */
  signal: AbortSignal;
}

/**
 * A fare source. `search` resolves with the offers for one route and date range, rejects with a
 * ScraperError when the source fails, and rejects with `signal.reason` as soon as it is aborted.
 * Implementations hold no per-job state, so one instance serves every job of a worker.
 */
export interface Scraper {
  readonly name: string;
  search(request: SearchRequest): Promise<ScrapedFlight[]>;
}
