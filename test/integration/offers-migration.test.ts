import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobParamsSchema } from '../../shared/api.js';
import { migrateToLatest, migrationProvider } from '../../shared/db/migrate.js';
import { countOffersOfJob, pageJobOffers, saveJobOffers } from '../../shared/db/offers.repository.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';

describe('migration 0003-offers', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(() => t.drop());

  it('carries the flights of a database at 0001 forward: one offer each, observed by its job as the default family', async () => {
    // Back to the schema of 0001, with data as the old code wrote it.
    // (The database is this file's own: everything goes, whatever later migrations added.)
    await sql`drop schema public cascade`.execute(t.db);
    await sql`create schema public`.execute(t.db);
    const { error } = await new Migrator({ db: t.db, provider: migrationProvider }).migrateTo('0001-initial');
    expect(error).toBeUndefined();
    const old = { origins: ['MUC'], destinations: ['BCN'], date_ranges: [['2026-12-20', '2026-12-27']], scrapers: ['sim-ryanair'] };
    await sql`insert into scraping_jobs (id, status, params, items_scraped) values (1, 'completed', ${JSON.stringify(old)}, 2), (2, 'completed', ${JSON.stringify(old)}, 1)`.execute(t.db);
    await sql`
      insert into flights (id, origin, destination, airline, outbound_flight_number, return_flight_number, departure_date, departure_time,
                           return_date, return_time, price, currency, source, booking_url, scraping_job_id, scraped_at)
      values (10, 'MUC', 'BCN', 'Ryanair', 'FR1234', 'FR1235', '2026-12-20', '06:25', '2026-12-27', '18:00', 89.99, 'EUR', 'sim-ryanair', 'https://example.invalid/a', 1, '2026-11-01T10:00:00Z'),
             (11, 'MUC', 'BCN', 'Ryanair', 'FR1240', 'FR1241', '2026-12-20', '14:10', '2026-12-27', '20:00', 120.50, 'EUR', 'sim-ryanair', 'https://example.invalid/b', 1, '2026-11-01T10:00:00Z'),
             (12, 'MUC', 'BCN', 'Wizz Air', 'W61000', null, '2026-12-20', '09:00', null, null, 45.00, 'EUR', 'sim-wizzair', 'https://example.invalid/c', 2, '2026-11-02T10:00:00Z')`.execute(t.db);

    expect(await migrateToLatest(t.db)).toContain('0003-offers');

    const offers = await t.db.selectFrom('offers').select(['id', 'airline_code', 'outbound_flight_number', 'departure_time']).orderBy('id').execute();
    expect(offers).toEqual([
      { id: '10', airline_code: 'FR', outbound_flight_number: 'FR1234', departure_time: '06:25' },
      { id: '11', airline_code: 'FR', outbound_flight_number: 'FR1240', departure_time: '14:10' },
      { id: '12', airline_code: 'W6', outbound_flight_number: 'W61000', departure_time: '09:00' },
    ]);
    const seen = await pageJobOffers(t.db, 1, { limit: 10, after: null });
    expect(seen.map((o) => [o.offer_id, o.price_per_person, o.total_price, o.adults, o.children, o.booking_url])).toEqual([
      ['10', '89.99', '359.96', 2, 2, 'https://example.invalid/a'],
      ['11', '120.50', '482.00', 2, 2, 'https://example.invalid/b'],
    ]);
    expect(await countOffersOfJob(t.db, 2)).toBe(1);
    // The old table's columns remain readable through the view.
    const view = await t.db.selectFrom('flights').select(['id', 'price', 'scraping_job_id']).orderBy('id').execute();
    expect(view).toEqual([
      { id: '10', price: '89.99', scraping_job_id: 1 },
      { id: '11', price: '120.50', scraping_job_id: 1 },
      { id: '12', price: '45.00', scraping_job_id: 2 },
    ]);
    // Old jobs read as the default family in EUR.
    const row = await t.db.selectFrom('scraping_jobs').select('params').where('id', '=', 1).executeTakeFirstOrThrow();
    expect(jobParamsSchema.parse(row.params)).toMatchObject({ adults: 2, children: 2, currency: 'EUR' });

    // New offers get ids after the carried ones; a job seeing a carried offer adds an observation.
    await sql`insert into scraping_jobs (id, status, params) values (3, 'running', ${JSON.stringify(old)})`.execute(t.db);
    const again = {
      source: 'sim-ryanair', origin: 'MUC', destination: 'BCN', airline: 'Ryanair', airline_code: 'FR', outbound_flight_number: 'FR1234', return_flight_number: 'FR1235',
      departure_date: '2026-12-20', departure_time: '06:25', arrival_time: '08:30', return_date: '2026-12-27', return_time: '18:00', return_arrival_time: null,
      price_per_person: 79.99, total_price: 239.97, currency: 'EUR', booking_url: 'https://example.invalid/a2',
    };
    const fresh = { ...again, outbound_flight_number: 'FR1300', departure_time: '19:00' };
    expect(await saveJobOffers(t.db, 3, [again, fresh], { adults: 2, children: 1 }, new Date())).toBe(2);
    const ids = (await pageJobOffers(t.db, 3, { limit: 10, after: null })).map((o) => o.offer_id);
    expect(ids[0]).toBe('10');
    expect(Number(ids[1])).toBeGreaterThan(12); // the sequence continues after the carried ids
    expect((await pageJobOffers(t.db, 1, { limit: 10, after: null })).map((o) => o.total_price)).toEqual(['359.96', '482.00']); // job 1 unchanged

    // Job 3 run again (a retry) finds one of the two: it holds what its last run found.
    expect(await saveJobOffers(t.db, 3, [again], { adults: 2, children: 1 }, new Date(Date.now() + 1000))).toBe(1);
    expect((await pageJobOffers(t.db, 3, { limit: 10, after: null })).map((o) => o.offer_id)).toEqual(['10']);
    expect(await countOffersOfJob(t.db, 1)).toBe(2);
  });
});
