import type { NewFlight } from '../../shared/db/flights.table.js';
import type { ScrapedFlight } from '../scrapers/scraper.js';

/** The columns of the flights table's uniqueness constraint (flights_offer_unique). */
export function offerKey(f: Pick<ScrapedFlight, 'source' | 'origin' | 'destination' | 'outbound_flight_number' | 'departure_date' | 'return_flight_number' | 'return_date'>): string {
  return [f.source, f.origin, f.destination, f.outbound_flight_number, f.departure_date, f.return_flight_number ?? '', f.return_date ?? ''].join('|');
}

/**
 * Rows to upsert for a job: one per offer key (one INSERT … ON CONFLICT DO UPDATE must not touch
 * a row twice, which a repeated date range would otherwise cause); the cheapest offer wins.
 */
export function toFlightRows(flights: readonly ScrapedFlight[], jobId: number, scrapedAt: Date): NewFlight[] {
  const byKey = new Map<string, ScrapedFlight>();
  for (const flight of flights) {
    const key = offerKey(flight);
    const seen = byKey.get(key);
    if (!seen || flight.price < seen.price) byKey.set(key, flight);
  }
  return [...byKey.values()].map((flight) => ({ ...flight, scraping_job_id: jobId, scraped_at: scrapedAt }));
}
