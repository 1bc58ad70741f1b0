import type { Kysely } from 'kysely';
import type { Database } from '../../shared/db/database.js';
import { findJob } from '../../shared/db/jobs.repository.js';
import type { ScrapingJob } from '../../shared/db/scraping-jobs.table.js';
import type { ScrapingEvent } from '../../shared/events.js';
import { CLOSE_CODES, FLIGHT_JOB } from '../../shared/protocol.js';
import { seqOfPayload, type JobEventLog, type JobLiveState, type JobRead } from '../../shared/redis/job-event-log.js';
import { queuedInfo, type QueuedInfo, type QueueSources } from '../queued-job.js';
import type { InitialServe } from './job-channels.js';
import type { JobIdentities } from './job-identities.js';
import type { MissingJobs } from './missing-jobs.js';

/** Where a client resumes: the last seq it holds and, if it knows it, the stream's epoch. */
export interface ResumePoint {
  lastSeq: number;
  epoch: string | null;
}

export interface JoinSources {
  eventLog: JobEventLog;
  db: Kysely<Database>;
  /** Short negative cache of unknown job ids (none: every unknown id is asked of Postgres). */
  missingJobs?: MissingJobs;
  /** Rows' identities: a stream written for another row of the same id is not served (none: every stream is). */
  identities?: JobIdentities;
}

/** With the queue, a pending job's snapshot says where it waits. */
type Sources = JoinSources & Partial<QueueSources>;

/**
 * What a client joining a job gets before it goes live. Without a resume point: a snapshot of the
 * job (the seed's "Connected to job N"). With one: the events after it from history, or — when the
 * history no longer holds them or the stream's epoch changed — a snapshot marked resync. Live state
 * comes from Redis; a job Redis no longer knows (old, or Redis lost it) is served from Postgres.
 */
export async function serveJoin(sources: Sources, jobId: number, resume: ResumePoint | null): Promise<InitialServe> {
  const read = await readOwnStream(sources, jobId, resume);
  if (read.state) return withEnd(sources, serveFromStream(jobId, read.state, read.history, resume), read.state);

  if (sources.missingJobs?.isMissing(jobId)) return notFound(jobId);
  if (sources.missingJobs) sources.missingJobs.lookups += 1;
  const row = await findJob(sources.db, jobId);
  if (!row) {
    sources.missingJobs?.remember(jobId);
    return notFound(jobId);
  }
  // The job may have emitted its first event while Postgres was asked: the stream then is the truth.
  const again = await readOwnStream(sources, jobId, resume);
  if (again.state) return withEnd(sources, serveFromStream(jobId, again.state, again.history, resume), again.state);
  // Redis holds no stream: either no event yet (a pending job) or the stream is gone.
  if (resume !== null && resume.lastSeq > row.last_seq) {
    return refuse(CLOSE_CODES.BAD_REQUEST, `last_seq ${resume.lastSeq} is ahead of job ${jobId} (seq ${row.last_seq})`);
  }
  const resync = resume !== null && !(row.last_seq === 0 && resume.lastSeq === 0);
  const { redis, queue } = sources;
  const queued = redis && queue ? await queuedInfo({ redis, queue }, row) : null;
  const frames = [JSON.stringify(snapshotOfRow(row, resync, queued))];
  if (ENDED.has(row.status)) frames.push(JSON.stringify(endEventOfRow(row)));
  return { frames, servedSeq: row.last_seq, snapshot: true };
}

/**
 * The job's stream, or none when Redis holds a stream written for another row of the same id (the
 * database was recreated while Redis kept its data): that one is not this job's and is treated as
 * absent. A stream without an identity (written before identities existed) is served.
 */
async function readOwnStream(sources: JoinSources, jobId: number, resume: ResumePoint | null): Promise<JobRead> {
  const read = await sources.eventLog.read(jobId, resume?.lastSeq);
  const identity = read.state?.identity;
  if (identity === undefined || !sources.identities || (await sources.identities.owns(jobId, identity))) return read;
  return { state: null, history: null };
}

const ENDED = new Set<string>(['completed', 'failed', 'cancelled']);

/**
 * A snapshot of a job that has ended is followed by the job's terminal event (job_completed or
 * job_failed), so that a client which loops until one of those — the seed's own examples do —
 * ends at once instead of waiting for an event that was sent before it came. That event carries
 * the snapshot's seq: the snapshot summarises the stream up to and including it, and the event is
 * the one at that seq (from history; rebuilt from the live state or the row when history is gone).
 * It is the only frame whose seq repeats the previous frame's, and only right after a snapshot.
 */
async function withEnd(sources: JoinSources, serve: InitialServe, state: JobLiveState): Promise<InitialServe> {
  if (!('servedSeq' in serve) || !ENDED.has(state.status)) return serve;
  const last = serve.frames.at(-1);
  if (last === undefined || !isSnapshotFrame(last)) return serve; // history replay: the terminal event is in it
  const tail = await sources.eventLog.read(state.job_id, state.seq - 1);
  const stored = Array.isArray(tail.history) ? tail.history.at(-1) : undefined;
  const end = stored !== undefined && isTerminalOfSeq(stored, state.seq) ? stored : JSON.stringify(endEventOfState(state));
  return { ...serve, frames: [...serve.frames, end] };
}

function isSnapshotFrame(frame: string | Buffer): boolean {
  return frame.includes('"snapshot":true');
}

function isTerminalOfSeq(payload: string, seq: number): boolean {
  return seqOfPayload(payload) === seq && /"event_type":"job_(completed|failed)"/.test(payload.slice(0, 120));
}

function serveFromStream(jobId: number, state: JobLiveState, history: JobRead['history'], resume: ResumePoint | null): InitialServe {
  if (!resume) return { frames: [JSON.stringify(snapshotOfState(state))], servedSeq: state.seq, snapshot: true };
  if (resume.lastSeq > state.seq) {
    // Within one epoch only Redis assigns seqs: a client ahead of it in the same epoch holds
    // events Redis lost (a replica promoted without the last writes). It resyncs to the state.
    if (resume.epoch === state.epoch) return { frames: [JSON.stringify(snapshotOfState(state, true))], servedSeq: state.seq, snapshot: true };
    return refuse(CLOSE_CODES.BAD_REQUEST, `last_seq ${resume.lastSeq} is ahead of job ${jobId} (seq ${state.seq})`);
  }
  if ((resume.epoch !== null && resume.epoch !== state.epoch) || history === 'gap' || history === null) {
    return { frames: [JSON.stringify(snapshotOfState(state, true))], servedSeq: state.seq, snapshot: true };
  }
  return { frames: history, servedSeq: state.seq };
}

function notFound(jobId: number): InitialServe {
  return refuse(CLOSE_CODES.NOT_FOUND, `Job ${jobId} not found`, [JSON.stringify(notFoundEvent(jobId))]);
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

export function snapshotOfRow(row: ScrapingJob, resync = false, queued: QueuedInfo | null = null): ScrapingEvent {
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
      // What the job searches (the stream's job_started carries it too): the page's header.
      params: row.params,
      ...(row.error_message ? { error: row.error_message } : {}),
      ...(resync ? { resync: true } : {}),
      // A pending job: waiting for a worker since queued_since (at this snapshot's timestamp).
      ...(queued ? { queued: true, ...queued } : {}),
    },
    timestamp: new Date().toISOString(),
  };
}

/** The terminal event of an ended job whose stored event is gone, rebuilt from its live state. */
export function endEventOfState(state: JobLiveState): ScrapingEvent {
  const completed = state.status === 'completed';
  return {
    job_id: state.job_id,
    seq: state.seq,
    event_type: completed ? 'job_completed' : 'job_failed',
    status: state.status,
    progress: state.progress ?? (completed ? 100 : null),
    results_count: state.results_count,
    message: completed ? `Job completed: ${state.results_count} flights found` : `Job ${state.status}`,
    metadata: { epoch: state.epoch, rebuilt: true },
    timestamp: state.completed_at ?? state.updated_at,
  };
}

/** The terminal event of an ended job Redis no longer holds, rebuilt from its row. */
export function endEventOfRow(row: ScrapingJob): ScrapingEvent {
  const completed = row.status === 'completed';
  return {
    job_id: row.id,
    seq: row.last_seq,
    event_type: completed ? 'job_completed' : 'job_failed',
    status: row.status,
    progress: row.progress,
    results_count: row.items_scraped,
    message: completed ? `Job completed: ${row.items_scraped} flights found` : `Job failed: ${row.error_message ?? row.status}`,
    metadata: { epoch: null, rebuilt: true, ...(row.error_message ? { error: row.error_message } : {}) },
    timestamp: (row.completed_at ?? new Date()).toISOString(),
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
