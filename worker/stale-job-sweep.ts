import type { Queue } from 'bullmq';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../shared/db/database.js';
import { findJob, markJobFailed, recordLastSeq } from '../shared/db/jobs.repository.js';
import type { Logger } from '../shared/logger.js';
import { bullmqJobId, type ScrapeJobData } from '../shared/queue.js';
import type { JobEventLog } from '../shared/redis/job-event-log.js';
import type { JobEventSink } from './events/job-event-sink.js';
import { ProgressTracker } from './progress-tracker.js';

export interface StaleJobSweepDeps {
  db: Kysely<Database>;
  queue: Queue<ScrapeJobData>;
  sink: JobEventSink;
  eventLog: JobEventLog;
  log: Logger;
  /** A candidate must have emitted nothing (and started no later than) this long ago. */
  staleAfterSeconds: number;
}

/** Queue states in which BullMQ still owns the job: it will run it, or its stall check hands it on. */
const LIVE_STATES = new Set(['active', 'waiting', 'delayed', 'prioritized', 'waiting-children']);

/** One key for every replica's sweep: Postgres advisory locks are per database. */
const SWEEP_LOCK_KEY = 0x5c07_5eed;

/** Rows looked at per sweep: a backlog is worked off over several sweeps. */
const BATCH = 100;

/**
 * Finds `running` jobs nobody runs any more and ends them `failed` with one terminal event (and
 * `pending` ones whose queue entry is gone: no worker would ever take them).
 *
 * BullMQ alone cannot: when Redis lost its data (restarted empty, or failed over without the
 * last writes) the job's queue entry is gone, and a job whose last worker died after the stall
 * limit can end in BullMQ without its row learning of it; either way the row says `running`
 * forever and watchers wait for an end that never comes. The sweep works from Postgres' side: a
 * `running` row older than the while, whose queue entry is absent or finished, whose stream has
 * been silent for the while. It ends such jobs rather than re-running them: a job that lost its
 * queue entry may also have lost its stream and half its work, and an honest `failed` the owner
 * can resubmit beats a silent second run nobody asked for.
 *
 * Replicas sweep under one Postgres advisory lock (pg_try_advisory_xact_lock): one of them
 * sweeps, the others skip that round; the lock goes with the transaction, so a worker that dies
 * mid-sweep holds nothing. Ending a job is a conditional write (markJobFailed) anyway, so even
 * two sweeps could not end a job twice.
 */
export async function sweepStaleJobs(deps: StaleJobSweepDeps): Promise<number[]> {
  const { db, log } = deps;
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_xact_lock(${SWEEP_LOCK_KEY}) as locked`.execute(trx);
    if (!rows[0]?.locked) return [];
    const candidates = await trx
      .selectFrom('scraping_jobs')
      .select('id')
      .where('status', 'in', ['pending', 'running'])
      .where(sql<boolean>`coalesce(started_at, created_at) < now() - make_interval(secs => ${deps.staleAfterSeconds})`)
      .orderBy('id')
      .limit(BATCH)
      .execute();
    const ended: number[] = [];
    for (const { id } of candidates) {
      try {
        if (await endIfStale(deps, id)) ended.push(id);
      } catch (error) {
        log.warn({ jobId: id, err: error }, 'stale-job sweep could not check a job; next sweep tries again');
      }
    }
    return ended;
  });
}

async function endIfStale(deps: StaleJobSweepDeps, jobId: number): Promise<boolean> {
  const row = await findJob(deps.db, jobId);
  if (!row || (row.status !== 'pending' && row.status !== 'running')) return false;
  // An entry or a stream written for another row of the same id (the database was recreated
  // under a Redis that kept its data) is not this job's: it counts as absent.
  const mine = (identity: string | undefined) => identity === undefined || identity === row.identity;
  const entry = await deps.queue.getJob(bullmqJobId(jobId));
  const queueState = entry && mine(entry.data?.identity) ? await entry.getState() : 'absent';
  if (LIVE_STATES.has(queueState)) return false;
  const { state: read } = await deps.eventLog.read(jobId);
  const state = read && mine(read.identity) ? read : null;
  const lastEventAt = state ? Date.parse(state.updated_at) : Number.NaN;
  if (Number.isFinite(lastEventAt) && Date.now() - lastEventAt < deps.staleAfterSeconds * 1000) return false;

  const reason = 'Job lost: its queue entry is gone (Redis lost its data, or its worker died) and it made no progress; submit it again';
  deps.sink.bindIdentity(jobId, row.identity);
  deps.sink.raiseSeqFloor(jobId, Math.max(row.last_seq, state?.seq ?? 0));
  try {
    // Row first and only if it is still unfinished (the job may have ended since it was read):
    // the terminal event follows a write that won, so there is never a second one.
    if (!(await markJobFailed(deps.db, jobId, { errorMessage: reason, lastSeq: row.last_seq }))) return false;
    const tracker = new ProgressTracker(deps.sink, jobId, { start: { progress: row.progress, resultsCount: row.items_scraped } });
    await tracker.emitJobFailed({ error: reason, metadata: { code: 'JOB_LOST', queue_state: queueState, swept: true } });
    await recordLastSeq(deps.db, jobId, tracker.lastSeq);
    deps.log.warn({ jobId, queueState, seq: tracker.lastSeq }, 'stale running job ended as failed');
    return true;
  } finally {
    deps.sink.release(jobId);
  }
}

/** Runs the sweep every `intervalSeconds` until stopped; the returned stop waits for a sweep in progress. */
export function startStaleJobSweep(deps: StaleJobSweepDeps, intervalSeconds: number): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = sweepStaleJobs(deps).catch((error: unknown) => deps.log.warn({ err: error }, 'stale-job sweep failed; next one tries again'));
  }, intervalSeconds * 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
