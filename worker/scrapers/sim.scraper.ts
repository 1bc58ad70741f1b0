import { ScraperError } from '../../shared/errors.js';
import type { SimScraperName } from '../../shared/scraper-names.js';
import { abortableDelay } from './abortable-delay.js';
import { partyPrices } from './party-price.js';
import type { SourceFactory } from './registry.js';
import type { ScrapedFlight, Scraper, SearchRequest } from './scraper.js';
import { SeededRandom, seedOf } from './sim/seeded-random.js';
import { baseFare, departures, type ScheduledFlight, type SimAirlineCode } from './sim/sim-timetable.js';

/**
 * What each simulated source sells. Airline sources sell their own timetable; aggregators resell
 * some flights of the two airline sources (overlap that deduplication must merge) plus flights of
 * airlines only they carry.
 */
const PROFILES: Record<SimScraperName, { own: SimAirlineCode[]; resold: SimAirlineCode[] }> = {
  'sim-ryanair': { own: ['FR'], resold: [] },
  'sim-wizzair': { own: ['W6'], resold: [] },
  'sim-skyscanner': { own: ['LH', 'VY'], resold: ['FR', 'W6'] },
  'sim-kiwi': { own: ['U2', 'EW'], resold: ['FR', 'W6'] },
};

export interface SimScraperOptions {
  /** Mean latency of a search; each route and date range gets a fixed jitter of ±50 %. */
  latencyMs: number;
  /** Chance (0..1) that a search fails after its latency. */
  failureRate: number;
  /** Fail every search: a source that is down, for tests and demos. */
  alwaysFail?: boolean;
  /** Source of the failure draws; injectable so a test can make a "random" failure certain. */
  random?: () => number;
}

/**
 * A simulated fare source: deterministic offers per route and date range (a seeded PRNG keyed by
 * source, route and dates), with configurable latency and failure rate.
 */
export class SimScraper implements Scraper {
  private readonly random: () => number;

  constructor(
    readonly name: SimScraperName,
    private readonly options: SimScraperOptions,
  ) {
    this.random = options.random ?? Math.random;
  }

  async search(request: SearchRequest): Promise<ScrapedFlight[]> {
    const { origin, destination, departDate, returnDate, signal } = request;
    signal.throwIfAborted();
    const rng = new SeededRandom(seedOf(this.name, origin, destination, departDate, returnDate));
    const latency = Math.round(this.options.latencyMs * rng.between(0.5, 1.5));
    const offers = this.offers(rng, request);
    if (latency > 0) await abortableDelay(latency, signal);
    signal.throwIfAborted();
    if (this.options.alwaysFail || this.random() < this.options.failureRate) {
      throw new ScraperError(this.name, `${this.name} did not answer for ${origin}→${destination} (simulated outage)`);
    }
    return offers;
  }

  private offers(rng: SeededRandom, { origin, destination, departDate, returnDate, party, currency }: SearchRequest): ScrapedFlight[] {
    const profile = PROFILES[this.name];
    const flightsOf = (codes: SimAirlineCode[]) => codes.flatMap((code) => departures(code, origin, destination, departDate));
    const picked =
      profile.resold.length === 0
        ? flightsOf(profile.own)
        : [...rng.sample(flightsOf(profile.resold), rng.int(1, 2)), ...rng.sample(flightsOf(profile.own), rng.int(2, 4))];

    return picked.map((outbound) => {
      const inbound = returnDate === null ? null : this.returnFlightFor(outbound, origin, destination, returnDate);
      const markup = rng.between(0.88, 1.15);
      return {
        origin,
        destination,
        airline: outbound.airline,
        airline_code: outbound.flightNumber.slice(0, 2),
        outbound_flight_number: outbound.flightNumber,
        return_flight_number: inbound?.flightNumber ?? null,
        departure_date: departDate,
        departure_time: outbound.time,
        arrival_time: arrivalTime(outbound.time, origin, destination),
        return_date: inbound?.date ?? null,
        return_time: inbound?.time ?? null,
        return_arrival_time: inbound ? arrivalTime(inbound.time, destination, origin) : null,
        // Simulated fares are per person, in whatever currency the job asks for.
        ...partyPrices(baseFare(origin, destination, outbound, inbound) * markup, 'per_person', party),
        currency,
        source: this.name,
        booking_url: bookingUrl(this.name, origin, destination, outbound, inbound),
      };
    });
  }

  /** The airline's flight back on the return day; every source pairs the same way, as a fare class would. */
  private returnFlightFor(outbound: ScheduledFlight, origin: string, destination: string, returnDate: string): ScheduledFlight {
    const code = outbound.flightNumber.slice(0, 2) as SimAirlineCode;
    const back = departures(code, destination, origin, returnDate);
    return back[seedOf(outbound.flightNumber, returnDate) % back.length]!;
  }
}

/** Departure plus the route's flight time (1–3.5 h, the same both ways), on a 24-hour clock. */
function arrivalTime(departure: string, from: string, to: string): string {
  const [a, b] = [from, to].sort();
  const minutes = new SeededRandom(seedOf('flight-time', a!, b!)).int(12, 42) * 5;
  const at = (Number(departure.slice(0, 2)) * 60 + Number(departure.slice(3, 5)) + minutes) % (24 * 60);
  return `${String(Math.floor(at / 60)).padStart(2, '0')}:${String(at % 60).padStart(2, '0')}`;
}

function bookingUrl(source: string, origin: string, destination: string, outbound: ScheduledFlight, inbound: ScheduledFlight | null): string {
  const query = new URLSearchParams({ from: origin, to: destination, out: outbound.flightNumber, depart: outbound.date });
  if (inbound) {
    query.set('back', inbound.flightNumber);
    query.set('return', inbound.date);
  }
  return `https://example.invalid/${source}/book?${query.toString()}`;
}

/** The factory of one simulated source; its configuration is the `sim` namespace (SCRAPER_LATENCY_MS and friends). */
export const simSource = (name: SimScraperName): SourceFactory => ({
  name,
  create: ({ config }) =>
    new SimScraper(name, { latencyMs: config.sim.latencyMs, failureRate: config.sim.failureRate, alwaysFail: config.sim.failing.includes(name) }),
});
