import type { Kysely } from 'kysely';
import type { Database } from '../../shared/db/database.js';

const CACHE_MAX = 50_000;
/** A job id found missing is believed missing this long (it may be created a moment later). */
const MISSING_MS = 1000;

/**
 * The key that owns a job, for requests that present an API key rather than a watch token.
 * An owner never changes, so a found owner is kept (bounded); a missing job only briefly.
 * `undefined`: no such job; `null`: a job without an owner (created while auth was off).
 */
export class JobOwners {
  private readonly known = new Map<number, number | null>();
  private readonly missing = new Map<number, number>();

  constructor(private readonly db: Kysely<Database>) {}

  async ownerOf(jobId: number): Promise<number | null | undefined> {
    if (this.known.has(jobId)) return this.known.get(jobId);
    const missingAt = this.missing.get(jobId);
    if (missingAt !== undefined && Date.now() - missingAt < MISSING_MS) return undefined;
    const row = await this.db.selectFrom('scraping_jobs').select('owner_key_id').where('id', '=', jobId).executeTakeFirst();
    if (!row) {
      if (this.missing.size >= CACHE_MAX) this.missing.clear();
      this.missing.set(jobId, Date.now());
      return undefined;
    }
    if (this.known.size >= CACHE_MAX) this.known.clear();
    this.known.set(jobId, row.owner_key_id);
    this.missing.delete(jobId);
    return row.owner_key_id;
  }
}
