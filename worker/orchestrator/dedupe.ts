import type { ScrapedFlight } from '../scrapers/scraper.js';

/** Two offers of one airline on one route departing this close together are the same flight. */
export const DEFAULT_DEDUPE_WINDOW_MINUTES = 30;

const minutesOf = (time: string) => Number(time.slice(0, 2)) * 60 + Number(time.slice(3, 5));

/** Cheapest first; ties broken by source and flight number so the winner never depends on arrival order. */
export function cheaperFirst(a: ScrapedFlight, b: ScrapedFlight): number {
  return (
    a.total_price - b.total_price ||
    a.source.localeCompare(b.source) ||
    (a.outbound_flight_number ?? '').localeCompare(b.outbound_flight_number ?? '') ||
    a.departure_time.localeCompare(b.departure_time) ||
    (a.return_time ?? '').localeCompare(b.return_time ?? '')
  );
}

/**
 * Splits offers into clusters of one time: walking them in `time` order, an offer more than
 * `windowMinutes` after the first of the current cluster starts the next one. Order-independent.
 */
function clusters(offers: ScrapedFlight[], time: (f: ScrapedFlight) => string | null, windowMinutes: number): ScrapedFlight[][] {
  const sorted = [...offers].sort((a, b) => minutesOf(time(a) ?? '00:00') - minutesOf(time(b) ?? '00:00') || cheaperFirst(a, b));
  const out: ScrapedFlight[][] = [];
  let anchor = -Infinity;
  for (const offer of sorted) {
    const at = minutesOf(time(offer) ?? '00:00');
    if (at - anchor > windowMinutes) {
      out.push([]);
      anchor = at;
    }
    out.at(-1)!.push(offer);
  }
  return out;
}

/**
 * Merges the offers several sources return for one flight, keeping the cheapest (party total).
 *
 * Offers are the same flight when route, airline (its IATA code), departure date and return date
 * match, their return times lie within `windowMinutes` of each other (a first clustering, so two
 * return flights of one outbound stay two offers) and their departure times too (sources round
 * or shift times a little). Each clustering walks times in order, so the result is the same
 * whatever order the offers came in: a job re-run after a crash saves the same rows. Times are
 * compared within one date: flights either side of midnight are never merged. One clustering is
 * a minimal cover, so adding offers never lowers its count; across the two, an added offer that
 * regroups return times could merge two offers it did not add, which needs one airline's return
 * flights spread over more than a window and resold at shifted times.
 */
export function dedupeFlights(flights: readonly ScrapedFlight[], windowMinutes = DEFAULT_DEDUPE_WINDOW_MINUTES): ScrapedFlight[] {
  const groups = new Map<string, ScrapedFlight[]>();
  for (const flight of flights) {
    const key = [flight.origin, flight.destination, flight.airline_code, flight.departure_date, flight.return_date ?? ''].join('|');
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push(flight);
  }

  const kept: ScrapedFlight[] = [];
  for (const group of groups.values()) {
    for (const sameReturn of clusters(group, (f) => f.return_time, windowMinutes)) {
      for (const sameFlight of clusters(sameReturn, (f) => f.departure_time, windowMinutes)) {
        kept.push(sameFlight.reduce((best, offer) => (cheaperFirst(offer, best) < 0 ? offer : best)));
      }
    }
  }
  return kept.sort(
    (a, b) =>
      a.origin.localeCompare(b.origin) ||
      a.destination.localeCompare(b.destination) ||
      a.departure_date.localeCompare(b.departure_date) ||
      (a.return_date ?? '').localeCompare(b.return_date ?? '') ||
      a.departure_time.localeCompare(b.departure_time) ||
      cheaperFirst(a, b),
  );
}
