import type { ScrapedFlight } from '../scrapers/scraper.js';

/** The columns of the offers table's identity (offers_identity): one offer whoever searches it. */
export function offerKey(
  f: Pick<ScrapedFlight, 'source' | 'origin' | 'destination' | 'departure_date' | 'departure_time' | 'outbound_flight_number' | 'return_date' | 'return_time' | 'return_flight_number'>,
): string {
  return [f.source, f.origin, f.destination, f.departure_date, f.departure_time, f.outbound_flight_number ?? '', f.return_date ?? '', f.return_time ?? '', f.return_flight_number ?? ''].join('|');
}

/**
 * One offer per identity (one INSERT … ON CONFLICT DO UPDATE must not touch a row twice, which a
 * repeated date range would otherwise cause); the cheapest wins.
 */
export function uniqueOffers(flights: readonly ScrapedFlight[]): ScrapedFlight[] {
  const byKey = new Map<string, ScrapedFlight>();
  for (const flight of flights) {
    const key = offerKey(flight);
    const seen = byKey.get(key);
    if (!seen || flight.total_price < seen.total_price) byKey.set(key, flight);
  }
  return [...byKey.values()];
}
