import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../shared/db/database.js';
import { migrateToLatest } from '../../shared/db/migrate.js';
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
    expect(results.flat()).toEqual(['0001-initial', '0002-access-control', '0003-offers']);
    expect(await migrateToLatest(t.db)).toEqual([]);
    const tables = await t.db.introspection.getTables();
    expect(tables.map((x) => x.name).sort()).toEqual(['api_keys', 'flights', 'idempotency_keys', 'job_offers', 'offers', 'scraping_jobs']);
  });
});
