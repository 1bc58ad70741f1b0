import { describe, expect, it } from 'vitest';
import { dedupeFlights } from '../../worker/orchestrator/dedupe.js';
import type { ScrapedFlight } from '../../worker/scrapers/scraper.js';

const offer = (over: Partial<ScrapedFlight>): ScrapedFlight => ({
  origin: 'MUC',
  destination: 'BCN',
  airline: 'Ryanair',
  airline_code: 'FR',
  outbound_flight_number: 'FR100',
  return_flight_number: 'FR101',
  departure_date: '2026-12-20',
  departure_time: '10:00',
  arrival_time: '12:00',
  return_date: '2026-12-27',
  return_time: '18:00',
  return_arrival_time: '20:00',
  price_per_person: 100,
  total_price: 400,
  currency: 'EUR',
  source: 'sim-ryanair',
  booking_url: 'https://example.invalid/x',
  ...over,
});

describe('dedupeFlights', () => {
  it('keeps the cheapest offer of one flight sold by several sources', () => {
    const flights = [
      offer({ source: 'sim-ryanair', total_price: 120 }),
      offer({ source: 'sim-skyscanner', total_price: 99.5, departure_time: '10:05' }),
      offer({ source: 'sim-kiwi', total_price: 110 }),
    ];
    expect(dedupeFlights(flights)).toEqual([flights[1]]);
  });

  it('treats departures within the window as one flight and beyond it as two', () => {
    const within = dedupeFlights([offer({ departure_time: '10:00' }), offer({ departure_time: '10:30', source: 'sim-kiwi' })]);
    expect(within).toHaveLength(1);
    const beyond = dedupeFlights([offer({ departure_time: '10:00' }), offer({ departure_time: '10:31', source: 'sim-kiwi' })]);
    expect(beyond).toHaveLength(2);
    expect(dedupeFlights([offer({ departure_time: '10:00' }), offer({ departure_time: '10:20', source: 'sim-kiwi' })], 15)).toHaveLength(2);
  });

  it('never merges different airlines, routes, departure dates or return dates', () => {
    const flights = [
      offer({}),
      offer({ airline: 'Wizz Air', airline_code: 'W6', source: 'sim-wizzair' }),
      offer({ destination: 'BUD' }),
      offer({ departure_date: '2026-12-21' }),
      offer({ return_date: '2026-12-28' }),
    ];
    expect(dedupeFlights(flights)).toHaveLength(5);
  });

  it('gives the same result whatever order the offers arrive in', () => {
    const flights = [
      offer({ departure_time: '06:00', total_price: 50 }),
      offer({ departure_time: '06:25', total_price: 40, source: 'sim-kiwi' }),
      offer({ departure_time: '06:50', total_price: 45, source: 'sim-skyscanner' }),
      offer({ departure_time: '12:00', total_price: 80 }),
      offer({ departure_time: '12:00', total_price: 80, source: 'sim-kiwi' }),
    ];
    const expected = dedupeFlights(flights);
    expect(expected.map((f) => [f.departure_time, f.total_price, f.source])).toEqual([
      ['06:25', 40, 'sim-kiwi'],
      ['06:50', 45, 'sim-skyscanner'],
      ['12:00', 80, 'sim-kiwi'],
    ]);
    for (const order of [[4, 3, 2, 1, 0], [2, 0, 4, 1, 3], [1, 4, 0, 3, 2]]) {
      expect(dedupeFlights(order.map((i) => flights[i]!))).toEqual(expected);
    }
  });

  it('never lowers the count as offers are added', () => {
    const times = ['09:10', '08:00', '08:45', '08:20', '09:40', '08:59', '10:05'];
    let previous = 0;
    const seen: ScrapedFlight[] = [];
    for (const [i, time] of times.entries()) {
      seen.push(offer({ departure_time: time, outbound_flight_number: `FR${i}` }));
      const count = dedupeFlights(seen).length;
      expect(count).toBeGreaterThanOrEqual(previous);
      previous = count;
    }
  });
});

describe('dedupeFlights with return flights', () => {
  it('keeps two return flights of one outbound as two offers, and merges one return flight sold twice', () => {
    const early = offer({ source: 'wizzair', airline_code: 'W6', outbound_flight_number: null, return_flight_number: null, return_time: '06:00' });
    const late = { ...early, return_time: '15:45' };
    const resold = { ...early, source: 'sim-kiwi', return_time: '06:10', total_price: 390 };
    const kept = dedupeFlights([late, early, resold]);
    expect(kept.map((f) => [f.return_time, f.total_price])).toEqual([
      ['06:10', 390],
      ['15:45', 400],
    ]);
    expect(dedupeFlights([resold, late, early])).toEqual(kept);
  });
});
