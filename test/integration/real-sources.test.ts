import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flightsPageSchema, type FlightOffer } from '../../shared/api.js';
import { bestOffersOf } from '../../shared/best-offers.js';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { priceHistory } from '../../shared/db/offers.repository.js';
import { createScrapeQueue, enqueueScrape, type ScrapeJobData } from '../../shared/queue.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { FareFixtureServer, fixtureJson, savedAnswers } from '../helpers/fare-fixtures.js';
import { jobHistory, waitForFinishedJob } from '../helpers/jobs.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, redisUrl, serviceEnv, testConfig, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { httpJson } from '../helpers/ws-client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const KIWI_KEY = 'fixture-kiwi-key-123';

/**
 * The real sources' loading code against a local server replaying their saved answers: the
 * gateway has no Kiwi key (so it refuses kiwi jobs), the worker has one (so a queued kiwi job runs).
 */
describe('real fare sources against fixture servers', () => {
  let pg: TestDatabase;
  let t: TestRedis;
  let keys: RedisKeys;
  let fixture: FareFixtureServer;
  let gateway: ServiceProcess;
  let worker: ServiceProcess;
  let queueRedis: Redis;
  let queue: Queue<ScrapeJobData>;
  let base: string;

  beforeAll(async () => {
    [pg, t, fixture] = await Promise.all([createTestDatabase(), createTestRedis(), FareFixtureServer.start()]);
    keys = new RedisKeys(t.keyPrefix);
    const env = serviceEnv(
      { databaseUrl: pg.url, keyPrefix: t.keyPrefix },
      {
        PORT: '0',
        RYANAIR_BASE_URL: fixture.url,
        WIZZAIR_BASE_URL: fixture.url,
        WIZZAIR_API_VERSION: '28.1.0',
        KIWI_BASE_URL: fixture.url,
        SOURCE_TIMEOUT_MS: '2000',
        SOURCE_BACKOFF_MS: '20',
        RYANAIR_RATE_LIMIT: '50',
        WIZZAIR_RATE_LIMIT: '50',
      },
    );
    queueRedis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
    queue = createScrapeQueue(testConfig(env), queueRedis);
    [gateway, worker] = await Promise.all([startService('gateway', env), startService('worker', { ...env, KIWI_API_KEY: KIWI_KEY })]);
    base = `http://127.0.0.1:${await gatewayPort(gateway)}`;
  });

  afterAll(async () => {
    await Promise.all([gateway?.stop(), worker?.stop()]);
    await queue?.close();
    queueRedis?.disconnect();
    await fixture?.close();
    await Promise.all([pg?.drop(), t?.cleanup()]);
  });

  const postJob = (body: object) =>
    httpJson(`${base}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  async function allFlights(jobId: number, limit: number): Promise<{ items: FlightOffer[]; pages: number }> {
    const items: FlightOffer[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `sort=price&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
      const { status, body } = await httpJson(`${base}/api/jobs/${jobId}/flights?${query}`);
      expect(status).toBe(200);
      const page = flightsPageSchema.parse(body);
      items.push(...page.items);
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor && pages < 20);
    return { items, pages };
  }

  const dropSeen = ({ seen_at: _, offer_id: __, ...rest }: FlightOffer) => rest;
  const ryanairLink = (to: string) =>
    `https://www.ryanair.com/gb/en/trip/flights/select?adults=2&teens=0&children=2&infants=0&dateOut=2027-03-01&dateIn=2027-03-08&isReturn=true&originIata=VIE&destinationIata=${to}`;
  const wizzLink = (to: string) => `https://wizzair.com/en-gb/booking/select-flight/VIE/${to}/2027-03-01/2027-03-08/2/2/0/null`;
  const party = { adults: 2, children: 2, currency: 'EUR' };
  const wizz = { airline: 'Wizz Air', airline_code: 'W6', flight_number: null, return_flight_number: null, arrival_time: null, return_arrival_time: null, source: 'wizzair', ...party };
  const ryanair = { airline: 'Ryanair', airline_code: 'FR', source: 'ryanair', ...party };
  const day = { departure_date: '2027-03-01', return_date: '2027-03-08' };
  /** Every offer of the saved answers, by party total (ties: departure, then return time). */
  const EXPECTED = [
    { ...wizz, ...day, route: 'VIE→STN', origin: 'VIE', destination: 'STN', departure_time: '12:30', return_time: '06:00', price_per_person: 49.98, total_price: 199.92, booking_url: wizzLink('STN') },
    { ...wizz, ...day, route: 'VIE→STN', origin: 'VIE', destination: 'STN', departure_time: '12:30', return_time: '15:45', price_per_person: 49.98, total_price: 199.92, booking_url: wizzLink('STN') },
    { ...ryanair, ...day, route: 'VIE→STN', origin: 'VIE', destination: 'STN', flight_number: 'FR1027', return_flight_number: 'FR1028', departure_time: '17:10', arrival_time: '18:20', return_time: '19:00', return_arrival_time: '22:05', price_per_person: 54.98, total_price: 219.92, booking_url: ryanairLink('STN') },
    { ...ryanair, ...day, route: 'VIE→BCN', origin: 'VIE', destination: 'BCN', flight_number: 'FR8312', return_flight_number: 'FR8313', departure_time: '06:25', arrival_time: '08:45', return_time: '09:20', return_arrival_time: '11:45', price_per_person: 85.49, total_price: 341.96, booking_url: ryanairLink('BCN') },
    { ...wizz, ...day, route: 'VIE→BCN', origin: 'VIE', destination: 'BCN', departure_time: '07:05', return_time: '10:15', price_per_person: 89.98, total_price: 359.92, booking_url: wizzLink('BCN') },
    { ...wizz, ...day, route: 'VIE→BCN', origin: 'VIE', destination: 'BCN', departure_time: '19:40', return_time: '10:15', price_per_person: 89.98, total_price: 359.92, booking_url: wizzLink('BCN') },
  ];
  const sortKey = (o: { total_price: number; departure_time: string; return_time: string | null }) => `${o.total_price.toFixed(2).padStart(9, '0')}|${o.departure_time}|${o.return_time}`;

  it('a ryanair + wizzair job over two routes stores exactly the answers’ offers, pages them cheapest first and streams the five best', async () => {
    const created = await postJob({ origins: ['VIE'], destinations: ['BCN', 'STN'], date_ranges: [['2027-03-01', '2027-03-08']], scrapers: ['ryanair', 'wizzair'] });
    expect(created.status).toBe(202);
    const jobId: number = created.body.job_id;
    const row = await waitForFinishedJob(pg.db, jobId);
    expect(row).toMatchObject({ status: 'completed', items_scraped: 6 });

    // Cheapest first across three pages of two; ties in the order the endpoint's keyset gives.
    const { items, pages } = await allFlights(jobId, 2);
    expect(pages).toBe(3);
    expect(items.map((o) => o.total_price)).toEqual(EXPECTED.map((o) => o.total_price));
    expect(items.map(dropSeen).sort((a, b) => sortKey(a).localeCompare(sortKey(b)))).toEqual(EXPECTED);
    // Pages of one split the ties across pages: the same list, nothing twice, nothing missed.
    const single = await allFlights(jobId, 1);
    expect([single.pages, single.items.map((o) => o.offer_id)]).toEqual([6, items.map((o) => o.offer_id)]);

    // The requests were the documented ones: dates, currency, party.
    const ryan = fixture.requests.filter((r) => r.path === '/farfnd/v4/roundTripFares');
    expect(ryan.map((r) => r.query.get('arrivalAirportIataCode')).sort()).toEqual(['BCN', 'STN']);
    expect(Object.fromEntries(ryan[0]!.query)).toMatchObject({
      departureAirportIataCode: 'VIE',
      outboundDepartureDateFrom: '2027-03-01',
      outboundDepartureDateTo: '2027-03-01',
      inboundDepartureDateFrom: '2027-03-08',
      inboundDepartureDateTo: '2027-03-08',
      currency: 'EUR',
    });
    const wizzRequests = fixture.requests.filter((r) => r.path === '/28.1.0/Api/search/timetable');
    expect(wizzRequests).toHaveLength(2);
    expect(wizzRequests[0]!.body).toMatchObject({ priceType: 'regular', adultCount: 2, childCount: 2, infantCount: 0 });
    expect((wizzRequests[0]!.body as { flightList: unknown[] }).flightList).toHaveLength(2);

    // Live: the last results_updated carries the five cheapest, as the endpoint ranks them.
    const events = await jobHistory(t.redis, keys, jobId);
    const updates = events.filter((e) => e.event_type === 'results_updated');
    const last = bestOffersOf(updates.at(-1)!.metadata)!;
    expect(last.map((o) => o.total_price)).toEqual(EXPECTED.slice(0, 5).map((o) => o.total_price));
    expect(last.map((o) => o.booking_url)).toEqual(EXPECTED.slice(0, 5).map((o) => o.booking_url));
    expect(new Set(last.map((o) => `${o.source} ${o.route} ${o.departure_time}`))).toEqual(
      new Set(EXPECTED.slice(0, 5).map((o) => `${o.source} ${o.route} ${o.departure_time}`)),
    );

    // The CLI prints the same five at the end.
    const cli = await runCli([String(jobId), '--url', base]);
    expect(cli.code).toBe(0);
    const deals = cli.stdout.trim().split('\n').slice(-6);
    expect(deals[0]).toBe('Best 5 deals (party total, cheapest first):');
    expect(deals.slice(1).map((line) => /^\d\. (\d+\.\d\d) EUR \((\d+\.\d\d) EUR pp\)/.exec(line)?.slice(1).map(Number))).toEqual(
      EXPECTED.slice(0, 5).map((o) => [o.total_price, o.price_per_person]),
    );
    expect(deals[4]).toContain(ryanairLink('BCN'));
  });

  it('two jobs over the same route keep their own offers and prices; the price history shows both', async () => {
    const body = { origins: ['VIE'], destinations: ['BCN'], date_ranges: [['2027-03-01', '2027-03-08']], scrapers: ['ryanair'] };
    const first = (await postJob(body)).body.job_id as number;
    await waitForFinishedJob(pg.db, first);
    // Ryanair's fare went up between the two searches.
    const dearer = fixtureJson('ryanair-roundtrip-VIE-BCN.json');
    dearer.fares[0].summary.price.value = 99.99;
    fixture.use((request) => (request.path === '/farfnd/v4/roundTripFares' ? { body: dearer } : savedAnswers(request)));
    try {
      const second = (await postJob({ ...body, children: 1 })).body.job_id as number;
      await waitForFinishedJob(pg.db, second);

      const [a, b] = [(await allFlights(first, 50)).items, (await allFlights(second, 50)).items];
      expect(a.map((o) => [o.price_per_person, o.total_price, o.adults, o.children])).toEqual([[85.49, 341.96, 2, 2]]);
      expect(b.map((o) => [o.price_per_person, o.total_price, o.adults, o.children])).toEqual([[99.99, 299.97, 2, 1]]);
      expect(b[0]!.offer_id).toBe(a[0]!.offer_id); // one offer, seen twice
      const rows = await pg.db.selectFrom('scraping_jobs').select(['id', 'items_scraped']).where('id', 'in', [first, second]).orderBy('id').execute();
      expect(rows.map((r) => r.items_scraped)).toEqual([1, 1]);

      // Oldest first (the first test's job saw this offer too, before these two).
      const history = await priceHistory(pg.db, a[0]!.offer_id);
      expect(history.filter((h) => h.job_id >= first).map((h) => [h.job_id, Number(h.price_per_person), Number(h.total_price)])).toEqual([
        [first, 85.49, 341.96],
        [second, 99.99, 299.97],
      ]);
      expect(history.map((h) => h.seen_at.getTime())).toEqual(history.map((h) => h.seen_at.getTime()).sort((x, y) => x - y));
    } finally {
      fixture.use(savedAnswers);
    }
  });

  it('the flights endpoint refuses what it cannot page: an unknown job, a bad limit, sort or cursor', async () => {
    expect((await httpJson(`${base}/api/jobs/999999/flights`)).status).toBe(404);
    expect((await httpJson(`${base}/api/jobs/abc/flights`)).body.error.code).toBe('BAD_JOB_ID');
    const post = await fetch(`${base}/api/jobs/1/flights`, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET']);
    for (const [query, field] of [['limit=0', 'limit'], ['limit=201', 'limit'], ['sort=departure', 'sort'], ['cursor=bm90LWEtY3Vyc29y', 'cursor'], ['page=2', '(body)']]) {
      const { status, body } = await httpJson(`${base}/api/jobs/1/flights?${query}`);
      expect([query, status, Object.keys(body.error.fields ?? {})]).toEqual([query, 400, [field]]);
    }
  });

  it('refuses a kiwi job at enqueue when the gateway has no Kiwi key', async () => {
    const jobs = () => pg.db.selectFrom('scraping_jobs').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    const before = Number((await jobs()).n);
    const { status, body } = await postJob({ origins: ['VIE'], destinations: ['BCN'], date_ranges: [['2027-03-01', '2027-03-08']], scrapers: ['ryanair', 'kiwi'] });
    expect(status).toBe(400);
    expect(body.error.code).toBe('VALIDATION_FAILED');
    expect(body.error.fields).toEqual({ 'scrapers.1': [expect.stringContaining('KIWI_API_KEY')] });
    expect(Number((await jobs()).n)).toBe(before); // nothing stored, nothing queued
  });

  it('with a key, kiwi’s offers are stored with their deep links, priced for the party', async () => {
    const job = await insertPendingJob(pg.db, { origins: ['VIE'], destinations: ['BCN'], date_ranges: [['2027-03-01', '2027-03-08']], scrapers: ['kiwi'], adults: 2, children: 1 });
    await enqueueScrape(queue, job.id);
    expect(await waitForFinishedJob(pg.db, job.id)).toMatchObject({ status: 'completed', items_scraped: 2 });
    const search = fixture.requests.find((r) => r.path === '/v2/search')!;
    expect(search.headers.apikey).toBe(KIWI_KEY);
    expect(Object.fromEntries(search.query)).toMatchObject({ fly_from: 'VIE', fly_to: 'BCN', date_from: '01/03/2027', date_to: '01/03/2027', return_from: '08/03/2027', return_to: '08/03/2027', adults: '2', children: '1', curr: 'EUR', max_stopovers: '1' });

    const { items } = await allFlights(job.id, 50);
    const answer = fixtureJson('kiwi-search-VIE-BCN.json');
    expect(items.map((o) => o.booking_url)).toEqual([answer.data[1].deep_link, answer.data[0].deep_link]);
    expect(items.map((o) => [o.airline_code, o.flight_number, o.departure_time, o.arrival_time, o.return_flight_number, o.total_price, o.price_per_person])).toEqual([
      ['LH', 'LH2321', '06:40', '11:20', 'EW9641', 298.4, 99.47],
      ['VY', 'VY8723', '11:05', '13:35', 'VY8722', 355.6, 118.53],
    ]);
  });
});

/** The CLI as `npm run watch` runs it; stdout is a pipe, so plain lines. */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'shared/client/watch-cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout });
    }),
  );
}
