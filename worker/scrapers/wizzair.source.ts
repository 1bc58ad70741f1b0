import { z } from 'zod';
import type { SourcesConfig } from '../../shared/sources-config.js';
import { localDateTime, splitLocal } from './http/local-time.js';
import type { SourceHttp } from './http/source-http.js';
import { partyPrices } from './party-price.js';
import type { SourceFactory } from './registry.js';
import type { ScrapedFlight, Scraper, SearchRequest } from './scraper.js';

/**
 * WizzAir's timetable (be.wizzair.com/{version}/Api/search/timetable): per route and day, the
 * departures and the day's regular fare for one passenger, in the currency of the departure
 * airport (the API takes no currency: offers in another currency than the job's are dropped by
 * the orchestrator, never converted). It gives no flight numbers and no arrival times.
 */
const flight = z.object({
  departureStation: z.string().regex(/^[A-Z]{3}$/),
  arrivalStation: z.string().regex(/^[A-Z]{3}$/),
  departureDates: z.array(localDateTime),
  price: z.object({ amount: z.number().nonnegative(), currencyCode: z.string().regex(/^[A-Z]{3}$/) }),
});
export const wizzairAnswerSchema = z.object({
  outboundFlights: z.array(flight),
  returnFlights: z.array(flight).nullish(),
});
type Flight = z.infer<typeof flight>;

/** One departure of a timetable day; a day without a price (sold out, "check price") has amount 0. */
interface Departure {
  date: string;
  time: string;
  amount: number;
  currency: string;
}

function departures(flights: readonly Flight[], from: string, to: string, date: string): Departure[] {
  return flights
    .filter((f) => f.departureStation === from && f.arrivalStation === to && f.price.amount > 0)
    .flatMap((f) => f.departureDates.map((d) => ({ ...splitLocal(d), amount: f.price.amount, currency: f.price.currencyCode })))
    .filter((d) => d.date === date);
}

export class WizzairScraper implements Scraper {
  readonly name = 'wizzair';

  constructor(
    private readonly config: SourcesConfig['wizzair'],
    private readonly http: SourceHttp,
  ) {}

  async search(request: SearchRequest): Promise<ScrapedFlight[]> {
    const { origin, destination, departDate, returnDate, party, signal } = request;
    const flightList = [{ departureStation: origin, arrivalStation: destination, from: departDate, to: departDate }];
    if (returnDate) flightList.push({ departureStation: destination, arrivalStation: origin, from: returnDate, to: returnDate });
    const answer = await this.http.requestJson({
      url: `${this.config.baseUrl}/${this.config.apiVersion}/Api/search/timetable`,
      method: 'POST',
      body: { flightList, priceType: 'regular', adultCount: party.adults, childCount: party.children, infantCount: 0 },
      schema: wizzairAnswerSchema,
      signal,
    });
    const outs = departures(answer.outboundFlights, origin, destination, departDate);
    const backs = returnDate ? departures(answer.returnFlights ?? [], destination, origin, returnDate) : [null];
    // Every outbound departure with every return departure of the day: the timetable prices each
    // leg on its own, so any pair can be booked at the sum of the two.
    return outs.flatMap((out) =>
      backs.filter((back) => back === null || back.currency === out.currency).map((back) => this.offer(out, back, request)),
    );
  }

  private offer(out: Departure, back: Departure | null, request: SearchRequest): ScrapedFlight {
    return {
      origin: request.origin,
      destination: request.destination,
      airline: 'Wizz Air',
      airline_code: 'W6',
      outbound_flight_number: null,
      return_flight_number: null,
      departure_date: out.date,
      departure_time: out.time,
      arrival_time: null,
      return_date: back?.date ?? null,
      return_time: back?.time ?? null,
      return_arrival_time: null,
      ...partyPrices(out.amount + (back?.amount ?? 0), 'per_person', request.party),
      currency: out.currency,
      source: this.name,
      booking_url: bookingUrl(request, out.date, back?.date ?? null),
    };
  }
}

/** WizzAir's flight selection page: /booking/select-flight/{from}/{to}/{out}/{back|null}/{adults}/{children}/{infants}/null. */
function bookingUrl({ origin, destination, party }: SearchRequest, out: string, back: string | null): string {
  return `https://wizzair.com/en-gb/booking/select-flight/${origin}/${destination}/${out}/${back ?? 'null'}/${party.adults}/${party.children}/0/null`;
}

export const wizzairSource: SourceFactory = {
  name: 'wizzair',
  create: ({ config, http }) => new WizzairScraper(config.wizzair, http('wizzair', config.wizzair.ratePerSecond)),
};
