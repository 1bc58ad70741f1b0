import { describe, expect, it } from 'vitest';
import { SIM_SCRAPER_NAMES as SCRAPER_NAMES } from '../../shared/scraper-names.js';
import { ScraperError } from '../../shared/errors.js';
import { SimScraper } from '../../worker/scrapers/sim.scraper.js';
import { scrapedFlightSchema, type SearchRequest } from '../../worker/scrapers/scraper.js';

const request = (over: Partial<SearchRequest> = {}): SearchRequest => ({
  origin: 'MUC',
  destination: 'BCN',
  departDate: '2026-12-20',
  returnDate: '2026-12-27',
  party: { adults: 2, children: 2 },
  currency: 'EUR',
  signal: new AbortController().signal,
  ...over,
});
const fast = { latencyMs: 0, failureRate: 0 };

describe('SimScraper', () => {
  it('returns the same valid offers every time for one route and date range', async () => {
    for (const name of SCRAPER_NAMES) {
      const first = await new SimScraper(name, fast).search(request());
      const again = await new SimScraper(name, fast).search(request());
      expect(again).toEqual(first);
      expect(first.length).toBeGreaterThanOrEqual(2);
      expect(first.length).toBeLessThanOrEqual(6);
      for (const flight of first) {
        expect(scrapedFlightSchema.parse(flight)).toEqual(flight);
        expect(flight).toMatchObject({ source: name, origin: 'MUC', destination: 'BCN', currency: 'EUR', departure_date: '2026-12-20', return_date: '2026-12-27' });
        expect(Math.round(flight.price_per_person * 100) / 100).toBe(flight.price_per_person);
        expect(flight.total_price).toBeCloseTo(flight.price_per_person * 4, 2);
      }
    }
  });

  it('gives other offers for other dates or routes', async () => {
    const scraper = new SimScraper('sim-kiwi', fast);
    const base = await scraper.search(request());
    expect(await scraper.search(request({ departDate: '2026-12-21' }))).not.toEqual(base);
    expect(await scraper.search(request({ destination: 'LIS' }))).not.toEqual(base);
  });

  it('searches one way when there is no return date', async () => {
    const flights = await new SimScraper('sim-ryanair', fast).search(request({ returnDate: null }));
    expect(flights.every((f) => f.return_flight_number === null && f.return_date === null && f.return_time === null)).toBe(true);
  });

  it('lets aggregators resell flights of the airline sources at another price', async () => {
    const airlines = [...(await new SimScraper('sim-ryanair', fast).search(request())), ...(await new SimScraper('sim-wizzair', fast).search(request()))];
    for (const aggregator of ['sim-skyscanner', 'sim-kiwi'] as const) {
      const resold = (await new SimScraper(aggregator, fast).search(request())).filter((offer) =>
        airlines.some((a) => a.outbound_flight_number === offer.outbound_flight_number),
      );
      expect(resold.length).toBeGreaterThanOrEqual(1);
      for (const offer of resold) {
        const direct = airlines.find((a) => a.outbound_flight_number === offer.outbound_flight_number)!;
        expect([offer.airline, offer.departure_time, offer.return_flight_number]).toEqual([direct.airline, direct.departure_time, direct.return_flight_number]);
        expect(offer.price_per_person).not.toBe(direct.price_per_person);
      }
    }
  });

  it('takes its configured latency and stops at once when aborted', async () => {
    const slow = new SimScraper('sim-ryanair', { latencyMs: 200, failureRate: 0 });
    let started = performance.now();
    await slow.search(request());
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);

    const controller = new AbortController();
    const reason = new Error('job cancelled');
    started = performance.now();
    const search = new SimScraper('sim-ryanair', { latencyMs: 10_000, failureRate: 0 }).search(request({ signal: controller.signal }));
    setTimeout(() => controller.abort(reason), 20);
    await expect(search).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(500);
    await expect(slow.search(request({ signal: AbortSignal.abort(reason) }))).rejects.toBe(reason);
  });

  it('fails with a ScraperError when forced or when the failure draw hits', async () => {
    const forced = new SimScraper('sim-kiwi', { ...fast, alwaysFail: true });
    const error = await forced.search(request()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScraperError);
    expect(error).toMatchObject({ code: 'SCRAPER_FAILED', retryable: true, scraper: 'sim-kiwi' });

    const draws = [0.2, 0.9];
    const flaky = new SimScraper('sim-kiwi', { latencyMs: 0, failureRate: 0.5, random: () => draws.shift()! });
    await expect(flaky.search(request())).rejects.toBeInstanceOf(ScraperError);
    await expect(flaky.search(request())).resolves.not.toHaveLength(0);
  });
});
