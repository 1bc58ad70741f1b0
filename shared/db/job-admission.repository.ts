import { sql, type Kysely } from 'kysely';
import type { JobParams } from '../api.js';
import type { Database } from './database.js';
import type { ScrapingJob } from './scraping-jobs.table.js';

/** How long an Idempotency-Key is remembered. */
export const IDEMPOTENCY_RETENTION_HOURS = 24;
/** First half of the advisory lock that serializes one owner's admissions (the second is the key id). */
const ADMISSION_LOCK_CLASS = 7_310_420;

export interface Admission {
  params: JobParams;
  /** The owning key; null when auth is off. */
  ownerKeyId: number | null;
  idempotency: { key: string; bodyHash: string } | null;
  /** Pending + running jobs the owner may have; null: no limit (auth off). */
  maxActive: number | null;
}

export type AdmissionResult =
  | { kind: 'created'; job: ScrapingJob }
  /** The same Idempotency-Key and body within the retention: the job created the first time. */
  | { kind: 'replayed'; job: ScrapingJob }
  /** The same Idempotency-Key with another body. */
  | { kind: 'key-reused'; jobId: number }
  | { kind: 'too-many-active'; active: number };

/**
 * Creates a pending job, or says why not, in one transaction under a per-owner advisory lock:
 * two concurrent requests of one owner can neither both pass the active-jobs limit nor both
 * create a job for one Idempotency-Key.
 */
export async function admitJob(db: Kysely<Database>, admission: Admission): Promise<AdmissionResult> {
  const owner = admission.ownerKeyId ?? 0;
  return db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(${ADMISSION_LOCK_CLASS}, ${owner})`.execute(tx);
    const { idempotency } = admission;
    if (idempotency) {
      const earlier = await tx
        .selectFrom('idempotency_keys')
        .select(['body_hash', 'job_id', sql<boolean>`created_at > now() - make_interval(hours => ${IDEMPOTENCY_RETENTION_HOURS})`.as('fresh')])
        .where('owner_key_id', '=', owner)
        .where('idempotency_key', '=', idempotency.key)
        .executeTakeFirst();
      if (earlier?.fresh) {
        if (earlier.body_hash !== idempotency.bodyHash) return { kind: 'key-reused', jobId: earlier.job_id };
        const job = await tx.selectFrom('scraping_jobs').selectAll().where('id', '=', earlier.job_id).executeTakeFirst();
        if (job) return { kind: 'replayed', job };
      }
      if (earlier) {
        await tx.deleteFrom('idempotency_keys').where('owner_key_id', '=', owner).where('idempotency_key', '=', idempotency.key).execute();
      }
    }
    if (admission.maxActive !== null && admission.ownerKeyId !== null) {
      const row = await tx
        .selectFrom('scraping_jobs')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('owner_key_id', '=', admission.ownerKeyId)
        .where('status', 'in', ['pending', 'running'])
        .executeTakeFirstOrThrow();
      const active = Number(row.n);
      if (active >= admission.maxActive) return { kind: 'too-many-active', active };
    }
    const job = await tx
      .insertInto('scraping_jobs')
      .values({ status: 'pending', params: JSON.stringify(admission.params), owner_key_id: admission.ownerKeyId })
      .returningAll()
      .executeTakeFirstOrThrow();
    if (idempotency) {
      await tx
        .insertInto('idempotency_keys')
        .values({ owner_key_id: owner, idempotency_key: idempotency.key, body_hash: idempotency.bodyHash, job_id: job.id })
        .execute();
    }
    return { kind: 'created', job };
  });
}
