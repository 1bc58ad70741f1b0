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
    a.departure_time.localeCompare(b.departure_time)
  );
}

/**
 * Merges the offers several sources return for one flight, keeping the cheapest (party total).
 *
 * Offers are the same flight when route, airline (its IATA code), departure date and return date match and their
 * departure times lie within `windowMinutes` of the earliest departure of their group (sources
 * round or shift times a little). Grouping walks the departures in time order, so the result is
 * the same whatever order the offers came in: a job re-run after a crash saves the same rows.
 * Adding offers never lowers the count, so a running count only grows. Times are compared within
 * one departure date: flights either side of midnight are never merged.
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
    group.sort((a, b) => minutesOf(a.departure_time) - minutesOf(b.departure_time) || cheaperFirst(a, b));
    let anchor = -Infinity;
    let best: ScrapedFlight | undefined;
    for (const flight of group) {
      const at = minutesOf(flight.departure_time);
      if (at - anchor > windowMinutes) {
        if (best) kept.push(best);
        anchor = at;
        best = flight;
      } else if (cheaperFirst(flight, best!) < 0) {
        best = flight;
      }
    }
    if (best) kept.push(best);
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
