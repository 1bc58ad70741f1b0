import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { enqueueScrape } from '../../shared/queue.js';
import { FareFixtureServer, fixtureJson, fixtureText, type FixtureAnswer, type RecordedRequest } from '../helpers/fare-fixtures.js';
import { waitForFinishedJob } from '../helpers/jobs.js';
import { startWorkerFixture, type WorkerFixture } from '../helpers/worker-fixture.js';

const RYANAIR_RATE = 2;
const DATES: [string, string][] = [['2027-03-01', '2027-03-08']];

/** WizzAir's answer for VIE→BCN, or one of the ways a source goes wrong, by destination. */
function wizzBehaviour(request: RecordedRequest): FixtureAnswer {
  const to = (request.body as { flightList: { arrivalStation: string }[] }).flightList[0]!.arrivalStation;
  switch (to) {
    case 'BCN':
      return { body: fixtureText('wizzair-timetable-VIE-BCN.json') };
    case 'LIS': // cut off mid-answer
      return { body: fixtureText('wizzair-timetable-VIE-BCN.json').slice(0, 120) };
    case 'OPO': {
      // A new release renamed a field: price.amount became price.value.
      const changed = fixtureJson('wizzair-timetable-VIE-BCN.json');
      for (const f of changed.outboundFlights) f.price = { value: f.price.amount, currencyCode: f.price.currencyCode };
      return { body: changed };
    }
    case 'MAD':
      return { status: 500, body: '<html><body>Internal Server Error</body></html>', headers: { 'content-type': 'text/html' } };
    case 'AGP':
      return { hang: true };
    case 'FAO':
      return { status: 403, body: { message: 'Access denied' } };
    default:
      return { status: 404, body: {} };
  }
}

/** Ryanair's saved VIE→BCN fare, for whichever route is asked. */
function ryanairFare(request: RecordedRequest): FixtureAnswer {
  const answer = fixtureJson('ryanair-roundtrip-VIE-BCN.json');
  const [from, to] = [request.query.get('departureAirportIataCode')!, request.query.get('arrivalAirportIataCode')!];
  const fare = answer.fares[0];
  fare.outbound.departureAirport.iataCode = fare.inbound.arrivalAirport.iataCode = from;
  fare.outbound.arrivalAirport.iataCode = fare.inbound.departureAirport.iataCode = to;
  return { body: answer };
}

describe('hardened sources: rate limits, retries and failures, with worker processes', () => {
  let fixture: FareFixtureServer;
  let f: WorkerFixture;
  let ryanairAnswered = 0;

  beforeAll(async () => {
    fixture = await FareFixtureServer.start((request) => {
      if (request.path.endsWith('/Api/search/timetable')) return wizzBehaviour(request);
      // Ryanair: 429 with Retry-After: 1 for the first two requests, then the fare.
      ryanairAnswered += 1;
      if (ryanairAnswered <= 2) return { status: 429, headers: { 'retry-after': '1' }, body: { message: 'Too Many Requests' } };
      return ryanairFare(request);
    });
    f = await startWorkerFixture({
      RYANAIR_BASE_URL: fixture.url,
      WIZZAIR_BASE_URL: fixture.url,
      RYANAIR_RATE_LIMIT: String(RYANAIR_RATE),
      WIZZAIR_RATE_LIMIT: '100',
      SOURCE_TIMEOUT_MS: '400',
      SOURCE_RETRIES: '2',
      SOURCE_BACKOFF_MS: '20',
      SOURCE_BACKOFF_MAX_MS: '50',
      WORKER_CONCURRENCY: '1',
      ORCHESTRATOR_CONCURRENCY: '6',
      METRICS_PORT: '0',
      HOST: '127.0.0.1',
    });
  });

  afterEach(() => f?.killAll());
  afterAll(async () => {
    await f?.close();
    await fixture?.close();
  });

  it('a malformed, changed, failing, silent or refusing source ends its task as scraper_failed with the right failure; no row comes from it', async () => {
    const worker = await f.start('worker');
    const job = await insertPendingJob(f.pg.db, { origins: ['VIE'], destinations: ['BCN', 'LIS', 'OPO', 'MAD', 'AGP', 'FAO'], date_ranges: DATES, scrapers: ['wizzair'] });
    await enqueueScrape(f.queue, job.id);
    // Five of six tasks failed: under the default threshold (only all failing fails a job) it completes.
    expect(await waitForFinishedJob(f.pg.db, job.id)).toMatchObject({ status: 'completed', items_scraped: 2 });

    const events = await f.eventsOf(job.id);
    const failed = Object.fromEntries(events.filter((e) => e.event_type === 'scraper_failed').map((e) => [String(e.metadata.route), e.metadata]));
    expect(Object.keys(failed).sort()).toEqual(['VIE→AGP', 'VIE→FAO', 'VIE→LIS', 'VIE→MAD', 'VIE→OPO']);
    expect(failed['VIE→LIS']).toMatchObject({ failure: 'bad_response', error: expect.stringContaining('not JSON') });
    expect(failed['VIE→OPO']).toMatchObject({ failure: 'bad_response', error: expect.stringContaining('field "outboundFlights.0.price.amount"') });
    expect(failed['VIE→MAD']).toMatchObject({ failure: 'unavailable', error: expect.stringContaining('HTTP 500 (3 attempts)') });
    expect(failed['VIE→AGP']).toMatchObject({ failure: 'timeout', error: expect.stringContaining('no answer within 400 ms') });
    expect(failed['VIE→FAO']).toMatchObject({ failure: 'blocked', error: expect.stringContaining('HTTP 403') });

    // Retried: 5xx and timeouts (1 + SOURCE_RETRIES); not retried: bad answers and refusals.
    const asked = (to: string) => fixture.requests.filter((r) => (r.body as { flightList?: { arrivalStation: string }[] })?.flightList?.[0]?.arrivalStation === to).length;
    expect(['BCN', 'LIS', 'OPO', 'MAD', 'AGP', 'FAO'].map(asked)).toEqual([1, 1, 1, 3, 3, 1]);

    // Operators see the same on the worker's metrics.
    const ready = await worker.waitForLog('worker ready');
    const metrics = await (await fetch(`http://127.0.0.1:${Number(ready.metricsPort)}/metrics`)).text();
    const calls = (outcome: string) => Number(new RegExp(`^scout_worker_scraper_calls_total\\{source="wizzair",outcome="${outcome}"[^}]*\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
    expect(['ok', 'bad_response', 'unavailable', 'timeout', 'blocked', 'rate_limited'].map(calls)).toEqual([1, 2, 1, 1, 1, 0]);

    // Only the good answer's offers exist, in this job and at all.
    const stored = await f.pg.db.selectFrom('offers').select(['destination', 'source']).execute();
    expect(stored).toEqual([
      { destination: 'BCN', source: 'wizzair' },
      { destination: 'BCN', source: 'wizzair' },
    ]);
  });

  it('429 with Retry-After twice, then 200: both jobs succeed, the retries waited, and two workers together kept to the per-source rate', async () => {
    const [w1, w2] = await Promise.all([f.start('w1'), f.start('w2')]);
    const jobs = await Promise.all([
      insertPendingJob(f.pg.db, { origins: ['VIE'], destinations: ['BCN', 'STN', 'LIS'], date_ranges: DATES, scrapers: ['ryanair'] }),
      insertPendingJob(f.pg.db, { origins: ['BER'], destinations: ['BCN', 'STN', 'LIS'], date_ranges: DATES, scrapers: ['ryanair'] }),
    ]);
    for (const job of jobs) await enqueueScrape(f.queue, job.id);
    for (const job of jobs) expect(await waitForFinishedJob(f.pg.db, job.id)).toMatchObject({ status: 'completed', items_scraped: 3 });
    for (const job of jobs) expect((await f.eventsOf(job.id)).filter((e) => e.event_type === 'scraper_failed')).toEqual([]);
    // Each worker ran one of the jobs (one job at a time each).
    for (const w of [w1, w2]) expect(w.lines.filter((l) => l.msg === 'job started')).toHaveLength(1);

    const requests = fixture.requests.filter((r) => r.path === '/farfnd/v4/roundTripFares');
    expect(requests).toHaveLength(8); // six searches, two of them asked twice
    const key = (r: RecordedRequest) => r.query.toString();
    for (const limited of requests.slice(0, 2)) {
      const retry = requests.find((r) => r.at > limited.at && key(r) === key(limited))!;
      expect(retry.at - limited.at).toBeGreaterThanOrEqual(1000);
    }

    // RYANAIR_RATE_LIMIT per one-second window, shared in Redis: never more than two windows'
    // worth in any second, and eight requests needed at least four windows.
    const times = requests.map((r) => r.at).sort((a, b) => a - b);
    for (const start of times) expect(times.filter((t) => t >= start && t < start + 1000).length).toBeLessThanOrEqual(2 * RYANAIR_RATE);
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual((requests.length / RYANAIR_RATE - 1) * 1000 - 100);
  });
});
