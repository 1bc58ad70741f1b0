import { z } from 'zod';
import type { SourcesConfig } from '../../shared/sources-config.js';
import { localDateTime, splitLocal } from './http/local-time.js';
import type { SourceHttp } from './http/source-http.js';
import { partyPrices } from './party-price.js';
import type { SourceFactory } from './registry.js';
import type { ScrapedFlight, Scraper, SearchRequest } from './scraper.js';

/**
 * Ryanair's fare finder (services-api.ryanair.com/farfnd/v4): the cheapest fare per day and
 * route, one passenger, in the currency asked for. The schema holds only the fields we read; the
 * real answers carry many more, which are ignored.
 */
const price = z.object({ value: z.number().positive(), currencyCode: z.string().regex(/^[A-Z]{3}$/) });
const leg = z.object({
  departureAirport: z.object({ iataCode: z.string().regex(/^[A-Z]{3}$/) }),
  arrivalAirport: z.object({ iataCode: z.string().regex(/^[A-Z]{3}$/) }),
  departureDate: localDateTime,
  arrivalDate: localDateTime,
  flightNumber: z.string().regex(/^[A-Z0-9]{2} ?\d{1,4}[A-Z]?$/, 'must be a flight number like FR1234'),
  price,
});
export const ryanairAnswerSchema = z.object({
  fares: z.array(z.object({ outbound: leg, inbound: leg.optional(), summary: z.object({ price }).optional() })),
});
type Fare = z.infer<typeof ryanairAnswerSchema>['fares'][number];

export class RyanairScraper implements Scraper {
  readonly name = 'ryanair';

  constructor(
    private readonly config: SourcesConfig['ryanair'],
    private readonly http: SourceHttp,
  ) {}

  async search(request: SearchRequest): Promise<ScrapedFlight[]> {
    const { origin, destination, departDate, returnDate, currency, signal } = request;
    const query = new URLSearchParams({
      departureAirportIataCode: origin,
      arrivalAirportIataCode: destination,
      outboundDepartureDateFrom: departDate,
      outboundDepartureDateTo: departDate,
      currency,
    });
    if (returnDate) {
      query.set('inboundDepartureDateFrom', returnDate);
      query.set('inboundDepartureDateTo', returnDate);
    }
    const path = returnDate ? 'roundTripFares' : 'oneWayFares';
    const answer = await this.http.requestJson({ url: `${this.config.baseUrl}/farfnd/v4/${path}?${query}`, schema: ryanairAnswerSchema, signal });
    return answer.fares
      .filter((fare) => fare.outbound.departureAirport.iataCode === origin && fare.outbound.arrivalAirport.iataCode === destination)
      .filter((fare) => !returnDate || fare.inbound)
      .map((fare) => this.offer(fare, request));
  }

  private offer(fare: Fare, request: SearchRequest): ScrapedFlight {
    const out = fare.outbound;
    const back = fare.inbound ?? null;
    const departure = splitLocal(out.departureDate);
    const returning = back ? splitLocal(back.departureDate) : null;
    const perPerson = fare.summary?.price.value ?? out.price.value + (back?.price.value ?? 0);
    const flightNumber = (n: string) => n.replace(' ', '');
    return {
      origin: out.departureAirport.iataCode,
      destination: out.arrivalAirport.iataCode,
      airline: 'Ryanair',
      airline_code: flightNumber(out.flightNumber).slice(0, 2),
      outbound_flight_number: flightNumber(out.flightNumber),
      return_flight_number: back ? flightNumber(back.flightNumber) : null,
      departure_date: departure.date,
      departure_time: departure.time,
      arrival_time: splitLocal(out.arrivalDate).time,
      return_date: returning?.date ?? null,
      return_time: returning?.time ?? null,
      return_arrival_time: back ? splitLocal(back.arrivalDate).time : null,
      ...partyPrices(perPerson, 'per_person', request.party),
      currency: fare.summary?.price.currencyCode ?? out.price.currencyCode,
      source: this.name,
      booking_url: bookingUrl(request, departure.date, returning?.date ?? null),
    };
  }
}

/** Ryanair's flight selection page for the route, dates and party. */
function bookingUrl({ origin, destination, party }: SearchRequest, dateOut: string, dateIn: string | null): string {
  const query = new URLSearchParams({
    adults: String(party.adults),
    teens: '0',
    children: String(party.children),
    infants: '0',
    dateOut,
    dateIn: dateIn ?? '',
    isReturn: String(dateIn !== null),
    originIata: origin,
    destinationIata: destination,
  });
  return `https://www.ryanair.com/gb/en/trip/flights/select?${query}`;
}

export const ryanairSource: SourceFactory = {
  name: 'ryanair',
  create: ({ config, http }) => new RyanairScraper(config.ryanair, http('ryanair', config.ryanair.ratePerSecond)),
};
