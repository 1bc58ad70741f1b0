import { sql, type Kysely } from 'kysely';

/**
 * API keys (only a SHA-256 of each: keys are 32 random bytes, so a fast hash is enough), the key
 * that owns each job, and Idempotency-Key records of POST /api/jobs.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    /** The key's first characters, to tell keys apart in `keys list` without storing the key. */
    .addColumn('key_prefix', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('revoked_at', 'timestamptz')
    .execute();

  // Jobs created while auth was off (or before this migration) have no owner: only an open
  // gateway serves them.
  await db.schema
    .alterTable('scraping_jobs')
    .addColumn('owner_key_id', 'integer', (c) => c.references('api_keys.id').onDelete('set null'))
    .execute();
  await db.schema.createIndex('scraping_jobs_owner_active_idx').on('scraping_jobs').columns(['owner_key_id', 'status']).execute();

  await db.schema
    .createTable('idempotency_keys')
    // 0 stands for "no key" (auth off): one namespace shared by every anonymous client.
    .addColumn('owner_key_id', 'integer', (c) => c.notNull())
    .addColumn('idempotency_key', 'text', (c) => c.notNull())
    .addColumn('body_hash', 'text', (c) => c.notNull())
    .addColumn('job_id', 'integer', (c) => c.notNull().references('scraping_jobs.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['owner_key_id', 'idempotency_key'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('idempotency_keys').execute();
  await db.schema.dropIndex('scraping_jobs_owner_active_idx').execute();
  await db.schema.alterTable('scraping_jobs').dropColumn('owner_key_id').execute();
  await db.schema.dropTable('api_keys').execute();
}
