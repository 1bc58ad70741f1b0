import { z } from 'zod';
import type { SourcesConfig } from '../../shared/sources-config.js';
import { dayMonthYear, localDateTime, splitLocal } from './http/local-time.js';
import type { SourceHttp } from './http/source-http.js';
import { partyPrices } from './party-price.js';
import type { SourceFactory } from './registry.js';
import type { ScrapedFlight, Scraper, SearchRequest } from './scraper.js';

/**
 * Kiwi.com's Tequila search (GET {KIWI_BASE_URL}/v2/search, header `apikey`): whole itineraries,
 * possibly with stopovers, priced for the party asked for in the currency asked for, each with a
 * deep link to book it. Only with KIWI_API_KEY: without one the source is off and the gateway
 * refuses jobs naming it.
 */
const routeLeg = z.object({
  flyFrom: z.string().regex(/^[A-Z]{3}$/),
  flyTo: z.string().regex(/^[A-Z]{3}$/),
  local_departure: localDateTime,
  local_arrival: localDateTime,
  airline: z.string().regex(/^[A-Z0-9]{2}$/),
  flight_no: z.union([z.number().int().nonnegative(), z.string().regex(/^\d{1,4}$/)]),
  return: z.union([z.literal(0), z.literal(1)]),
});
export const kiwiAnswerSchema = z.object({
  currency: z.string().regex(/^[A-Z]{3}$/),
  data: z.array(
    z.object({
      price: z.number().positive(),
      deep_link: z.url({ protocol: /^https?$/ }),
      route: z.array(routeLeg).min(1),
    }),
  ),
});
type Itinerary = z.infer<typeof kiwiAnswerSchema>['data'][number];

export class KiwiScraper implements Scraper {
  readonly name = 'kiwi';

  constructor(
    private readonly config: SourcesConfig['kiwi'] & { apiKey: string },
    private readonly http: SourceHttp,
  ) {}

  async search(request: SearchRequest): Promise<ScrapedFlight[]> {
    const { origin, destination, departDate, returnDate, party, currency, signal } = request;
    const query = new URLSearchParams({
      fly_from: origin,
      fly_to: destination,
      date_from: dayMonthYear(departDate),
      date_to: dayMonthYear(departDate),
      adults: String(party.adults),
      children: String(party.children),
      curr: currency,
      max_stopovers: String(this.config.maxStopovers),
      flight_type: returnDate ? 'round' : 'oneway',
      limit: '50',
    });
    if (returnDate) {
      query.set('return_from', dayMonthYear(returnDate));
      query.set('return_to', dayMonthYear(returnDate));
    }
    const answer = await this.http.requestJson({
      url: `${this.config.baseUrl}/v2/search?${query}`,
      headers: { apikey: this.config.apiKey },
      schema: kiwiAnswerSchema,
      signal,
    });
    return answer.data.flatMap((itinerary) => this.offer(itinerary, answer.currency, request) ?? []);
  }

  private offer(itinerary: Itinerary, currency: string, request: SearchRequest): ScrapedFlight | null {
    const outbound = itinerary.route.filter((leg) => leg.return === 0);
    const inbound = itinerary.route.filter((leg) => leg.return === 1);
    const first = outbound[0];
    const last = outbound.at(-1);
    if (!first || !last || (request.returnDate && inbound.length === 0)) return null;
    const back = inbound[0];
    const departure = splitLocal(first.local_departure);
    const returning = back ? splitLocal(back.local_departure) : null;
    return {
      origin: first.flyFrom,
      destination: last.flyTo,
      airline: first.airline,
      airline_code: first.airline,
      outbound_flight_number: `${first.airline}${first.flight_no}`,
      return_flight_number: back ? `${back.airline}${back.flight_no}` : null,
      departure_date: departure.date,
      departure_time: departure.time,
      arrival_time: splitLocal(last.local_arrival).time,
      return_date: returning?.date ?? null,
      return_time: returning?.time ?? null,
      return_arrival_time: inbound.length ? splitLocal(inbound.at(-1)!.local_arrival).time : null,
      // Tequila's price is the itinerary's for every passenger asked for.
      ...partyPrices(itinerary.price, 'party', request.party),
      currency,
      source: this.name,
      booking_url: itinerary.deep_link,
    };
  }
}

export const kiwiSource: SourceFactory = {
  name: 'kiwi',
  create: ({ config, http }) => {
    const apiKey = config.kiwi.apiKey;
    return apiKey ? new KiwiScraper({ ...config.kiwi, apiKey }, http('kiwi', config.kiwi.ratePerSecond)) : null;
  },
};
