import type { Kysely } from 'kysely';
import type { Database } from '../../shared/db/database.js';
import { findJobIdentity } from '../../shared/db/jobs.repository.js';

/** How long a row's identity is trusted without asking again (the database may be recreated). */
const TRUSTED_MS = 60_000;
const MAX = 50_000;

/**
 * The identities of job rows, as this gateway last read them. A stream in Redis carries the
 * identity of the row it was written for; a join serves it only when it is the row's. Reading the
 * row on every join would put one Postgres query on every connection, so a job's identity is read
 * once and trusted for a minute: a job watched by ten thousand clients costs a query a minute.
 * A stream whose identity differs from the remembered one has the row read again before it is
 * refused, so a remembered identity never hides a new row's stream for longer than it takes the
 * new job to emit its first event.
 */
export class JobIdentities {
  private readonly known = new Map<number, { identity: string; at: number }>();
  /** Postgres reads, for tests and /ws/stats-like counters. */
  lookups = 0;

  constructor(private readonly db: Kysely<Database>) {}

  /** Whether a stream written for `streamIdentity` belongs to job `jobId`'s row (false: no row). */
  async owns(jobId: number, streamIdentity: string): Promise<boolean> {
    const cached = this.known.get(jobId);
    if (cached && Date.now() - cached.at < TRUSTED_MS && cached.identity === streamIdentity) return true;
    return (await this.read(jobId)) === streamIdentity;
  }

  private async read(jobId: number): Promise<string | undefined> {
    this.lookups += 1;
    const identity = await findJobIdentity(this.db, jobId);
    if (identity === undefined) {
      this.known.delete(jobId);
      return undefined;
    }
    if (this.known.size >= MAX) this.known.clear();
    this.known.set(jobId, { identity, at: Date.now() });
    return identity;
  }
}
