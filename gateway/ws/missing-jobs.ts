const MISSING_MS = 1000;
const MAX = 50_000;

/**
 * Job ids recently found in neither Redis nor Postgres: asked again within a second they get the
 * unknown-job answer without a query, so a stream of upgrades to made-up ids costs Postgres
 * one query per id and second, not one per upgrade. With auth on, only a holder of a valid token
 * (minted for a job that existed) or of an owner's key gets this far.
 */
export class MissingJobs {
  private readonly seen = new Map<number, number>();
  /** Postgres lookups of joining sockets (a job Redis does not know), for /ws/stats. */
  lookups = 0;

  isMissing(jobId: number): boolean {
    const at = this.seen.get(jobId);
    if (at === undefined) return false;
    if (Date.now() - at < MISSING_MS) return true;
    this.seen.delete(jobId);
    return false;
  }

  remember(jobId: number): void {
    if (this.seen.size >= MAX) this.seen.clear();
    this.seen.set(jobId, Date.now());
  }

  /** A job created on this gateway exists from now on. */
  forget(jobId: number): void {
    this.seen.delete(jobId);
  }
}
