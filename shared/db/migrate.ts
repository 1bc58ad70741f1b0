import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import * as initial from './migrations/0001-initial.js';
import * as accessControl from './migrations/0002-access-control.js';
import * as offers from './migrations/0003-offers.js';
import * as jobIdentity from './migrations/0004-job-identity.js';

/** Migrations are imported, not read from a folder, so the same list runs under tsx and from dist/. */
const MIGRATIONS: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-access-control': accessControl,
  '0003-offers': offers,
  '0004-job-identity': jobIdentity,
};

export const migrationProvider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** Arbitrary but fixed: every replica takes the same session-level advisory lock. */
const MIGRATION_LOCK_ID = 7_310_420_001;

/**
 * Brings the schema to the latest migration. Replicas start at once, so the whole run (including
 * the creation of Kysely's own bookkeeping tables, which Kysely does outside its lock) is held
 * under one Postgres advisory lock.
 */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  return db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK_ID})`.execute(conn);
    try {
      const { error, results } = await new Migrator({ db: conn, provider: migrationProvider }).migrateToLatest();
      if (error) throw error instanceof Error ? error : new Error(String(error));
      return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`.execute(conn);
    }
  });
}
