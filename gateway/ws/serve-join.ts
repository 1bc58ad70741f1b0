import type { Kysely } from 'kysely';
import type { Database } from '../../shared/db/database.js';
import { findJob } from '../../shared/db/jobs.repository.js';
import type { ScrapingJob } from '../../shared/db/scraping-jobs.table.js';
import type { ScrapingEvent } from '../../shared/events.js';
import { CLOSE_CODES, FLIGHT_JOB } from '../../shared/protocol.js';
import type { JobEventLog, JobLiveState, JobRead } from '../../shared/redis/job-event-log.js';
import type { InitialServe } from './job-channels.js';

/** Where a client resumes: the last seq it holds and, if it knows it, the stream's epoch. */
export interface ResumePoint {
  lastSeq: number;
  epoch: string | null;
}

export interface JoinSources {
  eventLog: JobEventLog;
  db: Kysely<Database>;
}

/**
 * What a client joining a job gets before it goes live. Without a resume point: a snapshot of the
 * job (the seed's "Connected to job N"). With one: the events after it from history, or — when the
 * history no longer holds them or the stream's epoch changed — a snapshot marked resync. Live state
 * comes from Redis; a job Redis no longer knows (old, or Redis lost it) is served from Postgres.
 */
export async function serveJoin(sources: JoinSources, jobId: number, resume: ResumePoint | null): Promise<InitialServe> {
  const read = await sources.eventLog.read(jobId, resume?.lastSeq);
  if (read.state) return serveFromStream(jobId, read.state, read.history, resume);

  const row = await findJob(sources.db, jobId);
  if (!row) {
    return refuse(CLOSE_CODES.NOT_FOUND, `Job ${jobId} not found`, [JSON.stringify(notFoundEvent(jobId))]);
  }
  // The job may have emitted its first event while Postgres was asked: the stream then is the truth.
  const again = await sources.eventLog.read(jobId, resume?.lastSeq);
  if (again.state) return serveFromStream(jobId, again.state, again.history, resume);
  // Redis holds no stream: either no event yet (a pending job) or the stream is gone.
  if (resume !== null && resume.lastSeq > row.last_seq) {
    return refuse(CLOSE_CODES.BAD_REQUEST, `last_seq ${resume.lastSeq} is ahead of job ${jobId} (seq ${row.last_seq})`);
  }
  const resync = resume !== null && !(row.last_seq === 0 && resume.lastSeq === 0);
  return { frames: [JSON.stringify(snapshotOfRow(row, resync))], servedSeq: row.last_seq, snapshot: true };
}

function serveFromStream(jobId: number, state: JobLiveState, history: JobRead['history'], resume: ResumePoint | null): InitialServe {
  if (!resume) return { frames: [JSON.stringify(snapshotOfState(state))], servedSeq: state.seq, snapshot: true };
  if (resume.lastSeq > state.seq) {
    return refuse(CLOSE_CODES.BAD_REQUEST, `last_seq ${resume.lastSeq} is ahead of job ${jobId} (seq ${state.seq})`);
  }
  if ((resume.epoch !== null && resume.epoch !== state.epoch) || history === 'gap' || history === null) {
    return { frames: [JSON.stringify(snapshotOfState(state, true))], servedSeq: state.seq, snapshot: true };
  }
  return { frames: history, servedSeq: state.seq };
}

function refuse(code: number, reason: string, frames: string[] = []): InitialServe {
  return { frames, close: { code, reason } };
}

const connected = (jobId: number) => `Connected to job ${jobId}`;

export function snapshotOfState(state: JobLiveState, resync = false): ScrapingEvent {
  return {
    job_id: state.job_id,
    seq: state.seq,
    event_type: 'job_progress',
    status: state.status,
    progress: state.progress ?? 0,
    results_count: state.results_count,
    message: connected(state.job_id),
    metadata: {
      epoch: state.epoch,
      job_type: FLIGHT_JOB.jobType,
      source: FLIGHT_JOB.source,
      started_at: state.started_at ?? null,
      completed_at: state.completed_at ?? null,
      last_event_type: state.event_type,
      snapshot: true,
      ...(resync ? { resync: true } : {}),
    },
    // The state as of its last change: the same snapshot for every client until the next event.
    timestamp: state.updated_at,
  };
}

export function snapshotOfRow(row: ScrapingJob, resync = false): ScrapingEvent {
  return {
    job_id: row.id,
    seq: row.last_seq,
    event_type: 'job_progress',
    status: row.status,
    progress: row.progress,
    results_count: row.items_scraped,
    message: connected(row.id),
    metadata: {
      epoch: null,
      job_type: row.job_type,
      source: row.source,
      started_at: row.started_at?.toISOString() ?? null,
      completed_at: row.completed_at?.toISOString() ?? null,
      snapshot: true,
      ...(row.error_message ? { error: row.error_message } : {}),
      ...(resync ? { resync: true } : {}),
    },
    timestamp: new Date().toISOString(),
  };
}

export function notFoundEvent(jobId: number): ScrapingEvent {
  return {
    job_id: jobId,
    seq: 0,
    event_type: 'job_failed',
    status: 'failed',
    progress: null,
    results_count: 0,
    message: `Job ${jobId} not found`,
    metadata: { error: 'not_found' },
    timestamp: new Date().toISOString(),
  };
}
