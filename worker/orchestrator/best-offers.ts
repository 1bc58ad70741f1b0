import type { BestOffer } from '../../shared/best-offers.js';
import type { ScrapedFlight } from '../scrapers/scraper.js';
import { cheaperFirst } from './dedupe.js';

export type { BestOffer };

/** How many of a job's cheapest offers results_updated carries. */
export const BEST_OFFERS = 5;

export function bestOffers(flights: readonly ScrapedFlight[], count = BEST_OFFERS): BestOffer[] {
  return [...flights]
    .sort(cheaperFirst)
    .slice(0, count)
    .map((f) => ({
      route: `${f.origin}→${f.destination}`,
      origin: f.origin,
      destination: f.destination,
      departure_date: f.departure_date,
      departure_time: f.departure_time,
      arrival_time: f.arrival_time,
      return_date: f.return_date,
      return_time: f.return_time,
      return_arrival_time: f.return_arrival_time,
      airline: f.airline,
      airline_code: f.airline_code,
      flight_number: f.outbound_flight_number,
      return_flight_number: f.return_flight_number,
      source: f.source,
      price_per_person: f.price_per_person,
      total_price: f.total_price,
      currency: f.currency,
      booking_url: f.booking_url,
    }));
}

/** Identity and price of a top list: a new list is only announced when this changes. */
export function topSignature(offers: readonly BestOffer[]): string {
  return offers.map((o) => `${o.source}|${o.route}|${o.departure_date}T${o.departure_time}|${o.return_date}T${o.return_time}|${o.flight_number}|${o.total_price}`).join(';');
}
