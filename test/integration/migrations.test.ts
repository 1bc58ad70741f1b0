import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../shared/db/database.js';
import { Migrator } from 'kysely';
import { migrateToLatest, migrationProvider } from '../../shared/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';

describe('migrations', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(() => t.drop());

  it('are idempotent and safe when several replicas run them at once', async () => {
    await sql`drop view flights`.execute(t.db);
    await sql`drop table idempotency_keys, job_offers, offers, scraping_jobs, api_keys, kysely_migration, kysely_migration_lock`.execute(t.db);
    const replicas = Array.from({ length: 4 }, () => createDatabase(t.url, 2));
    const results = await Promise.all(replicas.map((db) => migrateToLatest(db)));
    await Promise.all(replicas.map((db) => db.destroy()));
    expect(results.flat()).toEqual(['0001-initial', '0002-access-control', '0003-offers', '0004-job-identity']);
    expect(await migrateToLatest(t.db)).toEqual([]);
    const tables = await t.db.introspection.getTables();
    expect(tables.map((x) => x.name).sort()).toEqual(['api_keys', 'flights', 'idempotency_keys', 'job_offers', 'offers', 'scraping_jobs']);
  });

  it('0004 gives every existing job row an identity of its own, and new rows one too', async () => {
    const migrator = new Migrator({ db: t.db, provider: migrationProvider });
    expect((await migrator.migrateTo('0003-offers')).error).toBeUndefined();
    const old = JSON.stringify({ origins: ['MUC'], destinations: ['BCN'], date_ranges: [['2026-12-20', '2026-12-27']], scrapers: ['sim-ryanair'] });
    await sql`insert into scraping_jobs (status, params) values ('completed', ${old}), ('pending', ${old})`.execute(t.db);
    expect(await migrateToLatest(t.db)).toEqual(['0004-job-identity']);
    await sql`insert into scraping_jobs (status, params) values ('pending', ${old})`.execute(t.db);
    const rows = await t.db.selectFrom('scraping_jobs').select('identity').execute();
    expect(rows).toHaveLength(3);
    expect(new Set(rows.map((r) => r.identity)).size).toBe(3);
    for (const r of rows) expect(r.identity).toMatch(/^[0-9a-f-]{36}$/);
  });
});
