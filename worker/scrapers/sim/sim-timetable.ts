import { SeededRandom, seedOf } from './seeded-random.js';

/** Airlines the simulated sources sell, by IATA airline code. */
export const SIM_AIRLINES = {
  FR: 'Ryanair',
  W6: 'Wizz Air',
  LH: 'Lufthansa',
  VY: 'Vueling',
  U2: 'easyJet',
  EW: 'Eurowings',
} as const;
export type SimAirlineCode = keyof typeof SIM_AIRLINES;

export interface ScheduledFlight {
  airline: string;
  flightNumber: string;
  /** YYYY-MM-DD */
  date: string;
  /** HH:MM */
  time: string;
}

/** Departure hours an airline may use; two hours apart, so one airline's flights never fall in one dedupe window. */
const SLOT_HOURS = [6, 8, 10, 12, 14, 16, 18, 20] as const;

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * One airline's departures on a route and day: 2–4 flights, the same for every source that sells
 * them (an aggregator and the airline itself offer the same flight at different prices, which is
 * what cross-source deduplication has to recognise). Flight numbers depend on the route and the
 * slot, not the day, like real schedules.
 */
export function departures(code: SimAirlineCode, origin: string, destination: string, date: string): ScheduledFlight[] {
  const rng = new SeededRandom(seedOf('timetable', code, origin, destination, date));
  const base = new SeededRandom(seedOf('flight-numbers', code, origin, destination)).int(100, 8900);
  const hours = rng.sample(SLOT_HOURS, rng.int(2, 4)).sort((a, b) => a - b);
  return hours.map((hour) => ({
    airline: SIM_AIRLINES[code],
    flightNumber: `${code}${base + hour}`,
    date,
    time: `${pad(hour)}:${pad(rng.int(0, 11) * 5)}`,
  }));
}

/** The fare of an outbound/return pair before a source's own markup: the same for every source. */
export function baseFare(origin: string, destination: string, outbound: ScheduledFlight, inbound: ScheduledFlight | null): number {
  const route = new SeededRandom(seedOf('route-fare', origin, destination)).between(40, 220);
  const flight = new SeededRandom(seedOf('flight-fare', outbound.flightNumber, outbound.date, inbound?.flightNumber ?? null, inbound?.date ?? null)).between(0.8, 1.4);
  return route * flight * (inbound ? 1 : 0.55);
}
