import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { loadConfig } from '../../shared/config.js';
import type { JsonRequest, SourceHttp } from '../../worker/scrapers/http/source-http.js';
import { KiwiScraper } from '../../worker/scrapers/kiwi.source.js';
import { RyanairScraper } from '../../worker/scrapers/ryanair.source.js';
import { scrapedFlightSchema, type SearchRequest } from '../../worker/scrapers/scraper.js';
import { WizzairScraper } from '../../worker/scrapers/wizzair.source.js';
import { fixtureJson } from '../helpers/fare-fixtures.js';

const sources = loadConfig({ KIWI_API_KEY: 'unit-test-key' }).sources;

/** A SourceHttp that answers `payload` (checked against the request's schema, as the real one does) and records the request. */
function answering(payload: unknown) {
  const seen: JsonRequest<unknown>[] = [];
  const http = {
    async requestJson<T>(request: JsonRequest<T>): Promise<T> {
      seen.push(request as JsonRequest<unknown>);
      return (request.schema as z.ZodType<T>).parse(payload);
    },
  } as unknown as SourceHttp;
  return { http, seen };
}

const request = (over: Partial<SearchRequest> = {}): SearchRequest => ({
  origin: 'VIE',
  destination: 'BCN',
  departDate: '2027-03-01',
  returnDate: '2027-03-08',
  party: { adults: 2, children: 2 },
  currency: 'EUR',
  signal: new AbortController().signal,
  ...over,
});

describe('ryanair source', () => {
  it('searches one way with oneWayFares and no inbound dates; ignores fares of other routes', async () => {
    const answer = fixtureJson('ryanair-roundtrip-VIE-BCN.json');
    const fare = answer.fares[0];
    delete fare.inbound;
    delete fare.summary;
    const elsewhere = structuredClone(fare);
    elsewhere.outbound.arrivalAirport.iataCode = 'GRO';
    answer.fares.push(elsewhere);
    const { http, seen } = answering(answer);
    const offers = await new RyanairScraper(sources.ryanair, http).search(request({ returnDate: null }));
    const url = new URL(seen[0]!.url);
    expect(url.pathname).toBe('/farfnd/v4/oneWayFares');
    expect(url.searchParams.has('inboundDepartureDateFrom')).toBe(false);
    expect(offers).toHaveLength(1);
    expect(scrapedFlightSchema.parse(offers[0])).toMatchObject({ destination: 'BCN', return_date: null, return_flight_number: null, price_per_person: 39.99, total_price: 159.96 });
    expect(offers[0]!.booking_url).toContain('isReturn=false');
  });
});

describe('wizzair source', () => {
  it('skips a day without a price and a return priced in another currency', async () => {
    const answer = fixtureJson('wizzair-timetable-VIE-BCN.json');
    answer.outboundFlights.push({ ...answer.outboundFlights[0], price: { amount: 0, currencyCode: 'EUR' }, departureDates: ['2027-03-01T22:00:00'], priceType: 'checkPrice' });
    answer.returnFlights.push({ ...answer.returnFlights[0], price: { amount: 900, currencyCode: 'HUF' }, departureDates: ['2027-03-08T21:00:00'] });
    const { http, seen } = answering(answer);
    const offers = await new WizzairScraper(sources.wizzair, http).search(request());
    expect(seen[0]!.url).toBe(`https://be.wizzair.com/${sources.wizzair.apiVersion}/Api/search/timetable`);
    expect(offers.map((o) => [o.departure_time, o.return_time, o.total_price])).toEqual([
      ['07:05', '10:15', 359.92],
      ['19:40', '10:15', 359.92],
    ]);
  });
});

describe('kiwi source', () => {
  it('drops a round-trip itinerary without a way back, and prices the party it asked for', async () => {
    const answer = fixtureJson('kiwi-search-VIE-BCN.json');
    answer.data[0].route = answer.data[0].route.filter((leg: { return: number }) => leg.return === 0);
    const { http, seen } = answering(answer);
    const offers = await new KiwiScraper({ ...sources.kiwi, apiKey: 'unit-test-key' }, http).search(request({ party: { adults: 1, children: 0 } }));
    expect(seen[0]!.headers).toEqual({ apikey: 'unit-test-key' });
    expect(new URL(seen[0]!.url).searchParams.get('flight_type')).toBe('round');
    expect(offers.map((o) => [o.outbound_flight_number, o.origin, o.destination, o.price_per_person, o.total_price])).toEqual([['LH2321', 'VIE', 'BCN', 298.4, 298.4]]);
  });
});
