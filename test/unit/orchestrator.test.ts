import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../shared/db/database.js';
import { JobFailedError, ScraperError } from '../../shared/errors.js';
import type { EventDraft, ScrapingEvent } from '../../shared/events.js';
import { createLogger } from '../../shared/logger.js';
import { SIM_SCRAPER_NAMES as SCRAPER_NAMES, type SimScraperName as ScraperName } from '../../shared/scraper-names.js';
import { MemoryEventSink } from '../../worker/events/memory-event-sink.js';
import { DEFAULT_DEDUPE_WINDOW_MINUTES } from '../../worker/orchestrator/dedupe.js';
import { FlightOrchestrator, type ScrapeAllInput } from '../../worker/orchestrator/orchestrator.js';
import { ProgressTracker } from '../../worker/progress-tracker.js';
import type { ScrapedFlight, Scraper, SearchRequest } from '../../worker/scrapers/scraper.js';
import { SimScraper } from '../../worker/scrapers/sim.scraper.js';

// Never connected: scrapeAll does not touch the database.
const db = createDatabase('postgres://unused@127.0.0.1:1/unused', 1);
afterAll(() => db.destroy());
const log = createLogger('test', 'silent');

function simScrapers(options: { failing?: ScraperName[]; latencyMs?: number } = {}): Map<string, Scraper> {
  return new Map(
    SCRAPER_NAMES.map((name) => [name, new SimScraper(name, { latencyMs: options.latencyMs ?? 5, failureRate: 0, alwaysFail: options.failing?.includes(name) })]),
  );
}

function setup(options: { scrapers?: Map<string, Scraper>; concurrency?: number; failureThreshold?: number } = {}) {
  const sink = new MemoryEventSink();
  const orchestrator = new FlightOrchestrator({
    scrapers: options.scrapers ?? simScrapers(),
    db,
    concurrency: options.concurrency ?? 3,
    failureThreshold: options.failureThreshold ?? 1,
    log,
  });
  const progress = new ProgressTracker(sink, 7);
  const input: ScrapeAllInput = { origins: ['MUC'], destinations: ['BCN', 'LIS'], dateRanges: [['2026-12-20', '2026-12-27']], progress };
  return { sink, orchestrator, input, events: () => sink.events(7) };
}

const ofType = (events: ScrapingEvent[], type: string) => events.filter((e) => e.event_type === type);

describe('FlightOrchestrator.scrapeAll', () => {
  it('reports every task and the job progress in seq order, up to 100 %', async () => {
    const { orchestrator, input, events } = setup();
    const result = await orchestrator.scrapeAll(input);
    const all = events();

    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    expect(result).toMatchObject({ tasksTotal: 8, successfulScrapers: 8, failedScrapers: 0, failures: [] });
    expect(ofType(all, 'scraper_started')).toHaveLength(8);
    expect(ofType(all, 'scraper_completed')).toHaveLength(8);
    for (const done of ofType(all, 'scraper_completed')) {
      const started = all.find((e) => e.event_type === 'scraper_started' && e.metadata.scraper === done.metadata.scraper && e.metadata.route === done.metadata.route)!;
      expect(started.seq).toBeLessThan(done.seq);
      expect(done.metadata).toMatchObject({ dates: '2026-12-20/2026-12-27', results_count: expect.any(Number) });
      expect(['MUC→BCN', 'MUC→LIS']).toContain(done.metadata.route);
    }

    const progress = ofType(all, 'job_progress');
    expect(progress.map((e) => e.metadata.tasks_done)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(progress.map((e) => e.progress)).toEqual([12.5, 25, 37.5, 50, 62.5, 75, 87.5, 100]);
    expect(progress.at(-1)!.metadata).toMatchObject({ successful_scrapers: 8, failed_scrapers: 0, total_flights: result.totalFlights, tasks_total: 8 });

    // Results only grow, in seq order, and end at the deduplicated count.
    const counts = all.map((e) => e.results_count);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    const updates = ofType(all, 'results_updated').map((e) => e.results_count);
    expect(updates).toEqual([...new Set(updates)].sort((a, b) => a - b));
    expect(updates.at(-1)).toBe(result.flights.length);
    expect(all.every((e) => e.status === 'running')).toBe(true);
  });

  it('merges the same flight found by several scrapers, keeping the cheapest', async () => {
    const { orchestrator, input } = setup();
    const result = await orchestrator.scrapeAll(input);
    expect(result.rawFlights).toBeGreaterThan(result.flights.length);
    expect(result.totalFlights).toBe(result.flights.length);

    const raw: ScrapedFlight[] = [];
    for (const scraper of simScrapers().values()) {
      for (const destination of ['BCN', 'LIS']) {
        raw.push(...(await scraper.search({ origin: 'MUC', destination, departDate: '2026-12-20', returnDate: '2026-12-27', party: { adults: 2, children: 2 }, currency: 'EUR', signal: new AbortController().signal })));
      }
    }
    // Checked against the offers themselves, not against dedupeFlights: every flight kept is an
    // offer a scraper returned, and every offer is covered by a kept flight of the same trip that
    // departs within the dedupe window of it, at no higher price.
    for (const kept of result.flights) expect(raw).toContainEqual(kept);
    const minutes = (time: string) => Number(time.slice(0, 2)) * 60 + Number(time.slice(3, 5));
    const sameTrip = (a: ScrapedFlight, b: ScrapedFlight) =>
      a.origin === b.origin && a.destination === b.destination && a.airline_code === b.airline_code && a.departure_date === b.departure_date && a.return_date === b.return_date;
    for (const offer of raw) {
      const covers = result.flights.filter(
        (kept) => sameTrip(kept, offer) && Math.abs(minutes(kept.departure_time) - minutes(offer.departure_time)) <= DEFAULT_DEDUPE_WINDOW_MINUTES && kept.total_price <= offer.total_price,
      );
      expect(covers.length, `offer ${offer.source} ${offer.outbound_flight_number} ${offer.departure_time} at ${offer.total_price}`).toBeGreaterThan(0);
    }
    const resold = result.flights.filter((f) => f.airline === 'Ryanair');
    expect(resold.length, 'the sim sources resell Ryanair flights: the loop below must run').toBeGreaterThan(0);
    for (const flight of resold) {
      const offers = raw.filter((r) => r.outbound_flight_number === flight.outbound_flight_number && r.destination === flight.destination);
      expect(flight.total_price).toBe(Math.min(...offers.map((o) => o.total_price)));
    }
  });

  it('counts a failing scraper and goes on', async () => {
    const { orchestrator, input, events } = setup({ scrapers: simScrapers({ failing: ['sim-kiwi'] }) });
    const result = await orchestrator.scrapeAll(input);
    expect(result).toMatchObject({ tasksTotal: 8, successfulScrapers: 6, failedScrapers: 2 });
    expect(result.failures.map((f) => [f.scraper, f.route])).toEqual(
      expect.arrayContaining([
        ['sim-kiwi', 'MUC→BCN'],
        ['sim-kiwi', 'MUC→LIS'],
      ]),
    );
    const failed = ofType(events(), 'scraper_failed');
    expect(failed).toHaveLength(2);
    expect(failed[0]!.metadata).toMatchObject({ scraper: 'sim-kiwi', error: expect.stringContaining('simulated outage') });
    expect(ofType(events(), 'job_progress').at(-1)).toMatchObject({ progress: 100, metadata: { successful_scrapers: 6, failed_scrapers: 2 } });
  });

  it('fails the job when every task failed, after reporting each', async () => {
    const { orchestrator, input, events } = setup({ scrapers: simScrapers({ failing: [...SCRAPER_NAMES] }) });
    const error = await orchestrator.scrapeAll(input).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobFailedError);
    expect(error).toMatchObject({ code: 'JOB_FAILED', retryable: false, summary: { failedScrapers: 8, successfulScrapers: 0 } });
    expect((error as Error).message).toMatch(/every scraper task failed \(8 of 8\).*simulated outage/);
    expect(ofType(events(), 'scraper_failed')).toHaveLength(8);
    expect(ofType(events(), 'job_progress').at(-1)!.progress).toBe(100);
  });

  it('fails the job when the failed share passes the threshold, and not at it', async () => {
    const failing = simScrapers({ failing: ['sim-kiwi'] }); // 2 of 8 tasks: 25 %
    const strict = setup({ scrapers: failing, failureThreshold: 0.2 });
    await expect(strict.orchestrator.scrapeAll(strict.input)).rejects.toThrow(/2 of 8 scraper tasks failed \(25%\), more than the allowed 20%/);
    const lenient = setup({ scrapers: failing, failureThreshold: 0.25 });
    await expect(lenient.orchestrator.scrapeAll(lenient.input)).resolves.toMatchObject({ failedScrapers: 2 });
  });

  it('runs no more tasks at once than its concurrency', async () => {
    let running = 0;
    let peak = 0;
    const counting: Scraper = {
      name: 'counting',
      async search(req: SearchRequest) {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 10));
        running -= 1;
        return new SimScraper('sim-ryanair', { latencyMs: 0, failureRate: 0 }).search(req);
      },
    };
    const { orchestrator, input } = setup({ scrapers: new Map([['counting', counting]]), concurrency: 2 });
    await orchestrator.scrapeAll({ ...input, destinations: ['BCN', 'LIS', 'OPO', 'FAO', 'AGP'] });
    expect(peak).toBe(2);
  });

  it('stops promptly and rejects with the reason when aborted', async () => {
    const { orchestrator, input, events } = setup({ scrapers: simScrapers({ latencyMs: 5_000 }), concurrency: 2 });
    const controller = new AbortController();
    const reason = new Error('lock lost');
    const started = performance.now();
    setTimeout(() => controller.abort(reason), 30);
    await expect(orchestrator.scrapeAll({ ...input, signal: controller.signal })).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(ofType(events(), 'scraper_started')).toHaveLength(2);
    expect(ofType(events(), 'scraper_failed')).toHaveLength(0);
  });

  it('counts malformed scraper results as a failed task', async () => {
    const broken: Scraper = { name: 'broken', search: async () => [{ price: -1 } as unknown as ScrapedFlight] };
    const thrower: Scraper = {
      name: 'thrower',
      search: async () => {
        throw new ScraperError('thrower', 'HTTP 503');
      },
    };
    const scrapers = new Map<string, Scraper>([['broken', broken], ['thrower', thrower], ['sim-ryanair', new SimScraper('sim-ryanair', { latencyMs: 0, failureRate: 0 })]]);
    const { orchestrator, input } = setup({ scrapers });
    const result = await orchestrator.scrapeAll({ ...input, destinations: ['BCN'] });
    expect(result.failures.map((f) => [f.scraper, f.error.split(':')[0]])).toEqual(
      expect.arrayContaining([
        ['broken', 'malformed results'],
        ['thrower', 'HTTP 503'],
      ]),
    );
  });

  it('stops the job when an event cannot be emitted (not a scraper failure)', async () => {
    const sink = new MemoryEventSink();
    let emits = 0;
    const failingSink = Object.assign(Object.create(sink) as MemoryEventSink, {
      emit: (jobId: number, draft: EventDraft) => (++emits === 5 ? Promise.reject(new Error('redis down')) : sink.emit(jobId, draft)),
    });
    const orchestrator = new FlightOrchestrator({ scrapers: simScrapers(), db, concurrency: 2, failureThreshold: 1, log });
    const progress = new ProgressTracker(failingSink, 8);
    await expect(
      orchestrator.scrapeAll({ origins: ['MUC'], destinations: ['BCN'], dateRanges: [['2026-12-20', '2026-12-27']], progress }),
    ).rejects.toThrow('redis down');
  });

  it('rejects an unknown scraper name before searching anything', async () => {
    const { orchestrator, input, events } = setup();
    await expect(orchestrator.scrapeAll({ ...input, scrapers: ['sim-nope'] })).rejects.toMatchObject({ code: 'JOB_INVALID' });
    expect(events()).toEqual([]);
  });
});

describe('FlightOrchestrator best deals and currency', () => {
  /** A source that answers one fixed offer (after `delayMs`), in `currency`, at `total` for the party. */
  const fixed = (name: string, total: number, delayMs: number, over: Partial<ScrapedFlight> = {}): Scraper => ({
    name,
    async search(req: SearchRequest) {
      await new Promise((r) => setTimeout(r, delayMs));
      return [
        {
          origin: req.origin,
          destination: req.destination,
          airline: 'Ryanair',
          airline_code: 'FR',
          outbound_flight_number: 'FR100',
          return_flight_number: 'FR101',
          departure_date: req.departDate,
          departure_time: '10:00',
          arrival_time: '12:00',
          return_date: req.returnDate,
          return_time: '18:00',
          return_arrival_time: '20:00',
          price_per_person: total / 4,
          total_price: total,
          currency: req.currency,
          source: name,
          booking_url: `https://example.invalid/${name}`,
          ...over,
        },
      ];
    },
  });

  it('announces the top again when a cheaper source of the same flight arrives, though the count stays', async () => {
    const scrapers = new Map<string, Scraper>([
      ['first', fixed('first', 400, 0)],
      ['cheaper', fixed('cheaper', 360, 30)],
    ]);
    const { orchestrator, input, events } = setup({ scrapers, concurrency: 2 });
    const result = await orchestrator.scrapeAll({ ...input, destinations: ['BCN'] });
    const updates = ofType(events(), 'results_updated');
    expect(updates.map((e) => [e.results_count, (e.metadata.best_offers as { total_price: number; source: string }[]).map((o) => [o.total_price, o.source])])).toEqual([
      [1, [[400, 'first']]],
      [1, [[360, 'cheaper']]],
    ]);
    expect(updates[1]!.message).toBe('1 unique flights found so far; cheapest 360.00 EUR for the party (MUC→BCN, cheaper)');
    expect(result.bestOffers.map((o) => o.booking_url)).toEqual(['https://example.invalid/cheaper']);
  });

  it('keeps only offers in the job currency; others are counted, never converted', async () => {
    const usd: Scraper = { name: 'usd', search: async (req) => (await fixed('usd', 300, 0).search(req)).map((o) => ({ ...o, currency: 'USD' })) };
    const scrapers = new Map<string, Scraper>([['usd', usd], ['eur', fixed('eur', 500, 10, { departure_time: '15:00' })]]);
    const { orchestrator, input, events } = setup({ scrapers, concurrency: 1 });
    const result = await orchestrator.scrapeAll({ ...input, destinations: ['BCN'], currency: 'EUR' });
    expect(result.flights.map((f) => [f.source, f.currency, f.total_price])).toEqual([['eur', 'EUR', 500]]);
    expect(ofType(events(), 'scraper_completed').map((e) => [e.metadata.scraper, e.metadata.results_count, e.metadata.other_currency])).toEqual([
      ['usd', 0, 1],
      ['eur', 1, undefined],
    ]);
  });

  it('keeps at most five best offers, cheapest party total first', async () => {
    const { orchestrator, input, events } = setup({ scrapers: simScrapers() });
    const result = await orchestrator.scrapeAll(input);
    for (const update of ofType(events(), 'results_updated')) {
      const totals = (update.metadata.best_offers as { total_price: number }[]).map((o) => o.total_price);
      expect(totals.length).toBeLessThanOrEqual(5);
      expect(totals).toEqual([...totals].sort((a, b) => a - b));
    }
    const cheapest = [...result.flights].sort((a, b) => a.total_price - b.total_price).slice(0, 5).map((f) => f.total_price);
    expect(result.bestOffers.map((o) => o.total_price)).toEqual(cheapest);
  });
});
