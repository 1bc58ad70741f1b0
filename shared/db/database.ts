import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { FlightsView } from './flights.table.js';
import type { JobOffersTable } from './job-offers.table.js';
import type { OffersTable } from './offers.table.js';
import type { ApiKeysTable, IdempotencyKeysTable } from './api-keys.table.js';
import type { ScrapingJobsTable } from './scraping-jobs.table.js';

export interface Database {
  scraping_jobs: ScrapingJobsTable;
  /** A view since migration 0003. */
  flights: FlightsView;
  offers: OffersTable;
  job_offers: JobOffersTable;
  api_keys: ApiKeysTable;
  idempotency_keys: IdempotencyKeysTable;
}

// 'YYYY-MM-DD' stays a string: a calendar date has no time zone to shift it.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);

export function createDatabase(databaseUrl: string, maxConnections = 10): Kysely<Database> {
  return new Kysely<Database>({
    dialect: new PostgresDialect({
      pool: new pg.Pool({ connectionString: databaseUrl, max: maxConnections, connectionTimeoutMillis: 5000 }),
    }),
  });
}
