import type { Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { endEventOfRow, endEventOfState, notFoundEvent, serveJoin, snapshotOfRow, snapshotOfState, type JoinSources } from '../../gateway/ws/serve-join.js';
import { JobIdentities } from '../../gateway/ws/job-identities.js';
import type { Database } from '../../shared/db/database.js';
import type { ScrapingJob } from '../../shared/db/scraping-jobs.table.js';
import { scrapingEventSchema } from '../../shared/events.js';
import { CLOSE_CODES } from '../../shared/protocol.js';
import type { JobEventLog, JobLiveState, JobRead } from '../../shared/redis/job-event-log.js';

/*
 * What a joining client is served, decided from the job's stream in Redis or its row in Postgres.
 * Both sources are stubs here: the decision is pure, the reads are tested against real stores in
 * test/integration (job-event-log, gateway-socket).
 */

const state = (over: Partial<JobLiveState> = {}): JobLiveState => ({
  job_id: 5,
  seq: 10,
  epoch: 'E1',
  status: 'running',
  progress: 40,
  results_count: 12,
  event_type: 'results_updated',
  started_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:01:00.000Z',
  ...over,
});

const row = (over: Partial<ScrapingJob> = {}): ScrapingJob => ({
  id: 5,
  job_type: 'flight_scrape',
  source: 'sim',
  status: 'completed',
  items_scraped: 33,
  error_message: null,
  params: { origins: ['MUC'], destinations: ['BCN'], date_ranges: [['2027-01-01', '2027-01-02']], scrapers: ['sim-kiwi'] },
  progress: 100,
  last_seq: 20,
  started_at: new Date('2026-01-01T00:00:00.000Z'),
  completed_at: new Date('2026-01-01T00:05:00.000Z'),
  created_at: new Date('2026-01-01T00:00:00.000Z'),
  owner_key_id: null,
  identity: 'row-5',
  ...over,
});

/** Sources answering with the given reads in turn (the last repeats) and the given row. */
function sources(reads: JobRead[], jobRow: ScrapingJob | undefined): JoinSources & { readCalls: (number | undefined)[] } {
  const readCalls: (number | undefined)[] = [];
  let i = 0;
  const eventLog = {
    read: async (_jobId: number, afterSeq?: number) => {
      readCalls.push(afterSeq);
      return reads[Math.min(i++, reads.length - 1)]!;
    },
  } as unknown as JobEventLog;
  const query = { selectAll: () => query, select: () => query, where: () => query, executeTakeFirst: async () => jobRow };
  const db = { selectFrom: () => query } as unknown as Kysely<Database>;
  return { eventLog, db, readCalls };
}

const parse = (frame: string | Buffer) => scrapingEventSchema.parse(JSON.parse(frame.toString()));
const NO_STREAM: JobRead = { state: null, history: null };

describe('serveJoin: from the stream in Redis', () => {
  it('serves a plain joiner a snapshot of the live state', async () => {
    const s = sources([{ state: state(), history: null }], undefined);
    const served = await serveJoin(s, 5, null);
    expect(served).toMatchObject({ servedSeq: 10 });
    expect(s.readCalls).toEqual([undefined]);
    const frames = 'frames' in served ? served.frames : [];
    expect(frames).toHaveLength(1);
    expect(parse(frames[0]!)).toMatchObject({ seq: 10, message: 'Connected to job 5', metadata: { snapshot: true, epoch: 'E1' } });
    expect(parse(frames[0]!).metadata.resync).toBeUndefined();
  });

  it('serves a resuming joiner the history after its seq', async () => {
    const history = ['{"job_id":5,"seq":9}', '{"job_id":5,"seq":10}'];
    const s = sources([{ state: state(), history }], undefined);
    expect(await serveJoin(s, 5, { lastSeq: 8, epoch: 'E1' })).toEqual({ frames: history, servedSeq: 10 });
    expect(s.readCalls).toEqual([8]);
  });

  it('serves history to a resuming joiner that does not know the epoch', async () => {
    const s = sources([{ state: state(), history: [] }], undefined);
    expect(await serveJoin(s, 5, { lastSeq: 10, epoch: null })).toEqual({ frames: [], servedSeq: 10 });
  });

  it.each([
    ['the history no longer holds the resume point', { lastSeq: 2, epoch: 'E1' }, 'gap' as const],
    ['the epoch differs (the stream was recreated)', { lastSeq: 8, epoch: 'E0' }, ['{"job_id":5,"seq":9}']],
    ['the log answered without history', { lastSeq: 8, epoch: 'E1' }, null],
  ])('serves a resync snapshot when %s', async (_why, resume, history) => {
    const s = sources([{ state: state(), history }], undefined);
    const served = await serveJoin(s, 5, resume);
    expect(served).toMatchObject({ servedSeq: 10 });
    const frames = 'frames' in served ? served.frames : [];
    expect(frames).toHaveLength(1);
    expect(parse(frames[0]!)).toMatchObject({ seq: 10, metadata: { snapshot: true, resync: true } });
  });

  it('refuses (4400) a last_seq ahead of the stream, and accepts one equal to it', async () => {
    const s = sources([{ state: state(), history: [] }], undefined);
    for (const epoch of [null, 'E0']) {
      expect(await serveJoin(s, 5, { lastSeq: 11, epoch })).toEqual({
        frames: [],
        close: { code: CLOSE_CODES.BAD_REQUEST, reason: 'last_seq 11 is ahead of job 5 (seq 10)' },
      });
    }
    expect(await serveJoin(s, 5, { lastSeq: 10, epoch: 'E1' })).toEqual({ frames: [], servedSeq: 10 });
  });

  it("resyncs a last_seq ahead of the stream in the stream's own epoch (Redis lost events the client saw)", async () => {
    const served = await serveJoin(sources([{ state: state(), history: [] }], undefined), 5, { lastSeq: 11, epoch: 'E1' });
    expect(served).toMatchObject({ servedSeq: 10 });
    const frames = 'frames' in served ? served.frames : [];
    expect(frames).toHaveLength(1);
    expect(parse(frames[0]!)).toMatchObject({ seq: 10, metadata: { snapshot: true, resync: true } });
  });
});

describe('serveJoin: a job Redis does not hold (served from Postgres)', () => {
  it('refuses an unknown job with one job_failed "Job N not found" and close 4404', async () => {
    const served = await serveJoin(sources([NO_STREAM], undefined), 5, null);
    expect(served).toMatchObject({ close: { code: CLOSE_CODES.NOT_FOUND, reason: 'Job 5 not found' } });
    expect(parse(('frames' in served ? served.frames : [])[0]!)).toMatchObject({ seq: 0, event_type: 'job_failed', message: 'Job 5 not found' });
  });

  it('serves a snapshot of the row to a plain joiner', async () => {
    const served = await serveJoin(sources([NO_STREAM], row()), 5, null);
    expect(served).toMatchObject({ servedSeq: 20 });
    const snapshot = parse(('frames' in served ? served.frames : [])[0]!);
    expect(snapshot).toMatchObject({ seq: 20, status: 'completed', progress: 100, results_count: 33, metadata: { snapshot: true, epoch: null } });
    expect(snapshot.metadata.resync).toBeUndefined();
  });

  it('serves a resuming joiner a resync snapshot of the row (its history is gone)', async () => {
    const served = await serveJoin(sources([NO_STREAM], row()), 5, { lastSeq: 7, epoch: 'E1' });
    expect(parse(('frames' in served ? served.frames : [])[0]!)).toMatchObject({ seq: 20, metadata: { resync: true } });
  });

  it('serves a job with events resumed at seq 0 a resync snapshot', async () => {
    const served = await serveJoin(sources([NO_STREAM], row()), 5, { lastSeq: 0, epoch: null });
    expect(parse(('frames' in served ? served.frames : [])[0]!)).toMatchObject({ seq: 20, metadata: { resync: true } });
  });

  it('serves a pending job resumed at seq 0 a plain snapshot, not a resync', async () => {
    const pending = row({ status: 'pending', last_seq: 0, progress: 0, items_scraped: 0, started_at: null, completed_at: null });
    const served = await serveJoin(sources([NO_STREAM], pending), 5, { lastSeq: 0, epoch: null });
    const snapshot = parse(('frames' in served ? served.frames : [])[0]!);
    expect(snapshot).toMatchObject({ seq: 0, status: 'pending' });
    expect(snapshot.metadata.resync).toBeUndefined();
  });

  it('refuses (4400) a last_seq ahead of the row, and accepts one equal to it', async () => {
    expect(await serveJoin(sources([NO_STREAM], row()), 5, { lastSeq: 21, epoch: null })).toEqual({
      frames: [],
      close: { code: CLOSE_CODES.BAD_REQUEST, reason: 'last_seq 21 is ahead of job 5 (seq 20)' },
    });
    expect(await serveJoin(sources([NO_STREAM], row()), 5, { lastSeq: 20, epoch: null })).toMatchObject({ servedSeq: 20 });
  });

  it('takes the stream when the job emitted its first event while Postgres was asked', async () => {
    const s = sources([NO_STREAM, { state: state({ seq: 1 }), history: null }], row({ status: 'pending', last_seq: 0 }));
    const served = await serveJoin(s, 5, null);
    expect(served).toMatchObject({ servedSeq: 1 });
    expect(s.readCalls).toEqual([undefined, undefined]);
  });
});

describe('snapshots', () => {
  it('of the live state carry its fields and the time of its last change', () => {
    const event = snapshotOfState(state({ progress: undefined, completed_at: '2026-01-01T00:02:00.000Z' }), true);
    expect(scrapingEventSchema.parse(event)).toMatchObject({
      job_id: 5,
      seq: 10,
      event_type: 'job_progress',
      status: 'running',
      progress: 0,
      results_count: 12,
      timestamp: '2026-01-01T00:01:00.000Z',
      metadata: {
        epoch: 'E1',
        job_type: 'flights',
        source: 'orchestrator',
        started_at: '2026-01-01T00:00:00.000Z',
        completed_at: '2026-01-01T00:02:00.000Z',
        last_event_type: 'results_updated',
        snapshot: true,
        resync: true,
      },
    });
    expect(snapshotOfState(state({ started_at: undefined })).metadata).toMatchObject({ started_at: null, completed_at: null });
  });

  it('of a row carry its error and dates', () => {
    const event = snapshotOfRow(row({ status: 'failed', error_message: 'boom', started_at: null }));
    expect(event.metadata).toMatchObject({ error: 'boom', started_at: null, completed_at: '2026-01-01T00:05:00.000Z', job_type: 'flight_scrape', source: 'sim' });
    expect(snapshotOfRow(row()).metadata.error).toBeUndefined();
    expect(snapshotOfRow(row()).metadata.resync).toBeUndefined();
    expect(snapshotOfRow(row({ completed_at: null })).metadata.completed_at).toBeNull();
  });

  it('of an unknown job are a failed event at seq 0', () => {
    expect(scrapingEventSchema.parse(notFoundEvent(9))).toMatchObject({ job_id: 9, seq: 0, status: 'failed', progress: null, metadata: { error: 'not_found' } });
  });
});

describe('serveJoin: a job that has ended', () => {
  const ended = state({ seq: 12, status: 'completed', progress: 100, results_count: 40, event_type: 'job_completed', completed_at: '2026-01-01T00:05:00.000Z' });
  const terminal = '{"job_id":5,"seq":12,"event_type":"job_completed","status":"completed","progress":100,"results_count":40,"message":"done","metadata":{"epoch":"E1"},"timestamp":"t"}';

  it('follows the snapshot with the stored terminal event at the same seq', async () => {
    const s = sources([{ state: ended, history: null }, { state: ended, history: [terminal] }], undefined);
    const served = await serveJoin(s, 5, null);
    expect(served).toMatchObject({ servedSeq: 12 });
    const frames = 'frames' in served ? served.frames : [];
    expect(frames).toHaveLength(2);
    expect(parse(frames[0]!)).toMatchObject({ seq: 12, metadata: { snapshot: true } });
    expect(frames[1]).toBe(terminal);
    expect(s.readCalls).toEqual([undefined, 11]);
  });

  it('rebuilds the terminal event from the live state when history lost it', async () => {
    const otherTerminal = '{"job_id":5,"seq":11,"event_type":"job_completed","status":"completed"}';
    for (const tail of [{ state: ended, history: [otherTerminal] }, { state: ended, history: 'gap' as const }, { state: ended, history: ['{"job_id":5,"seq":11,"event_type":"job_progress"}'] }, { state: ended, history: ['{"job_id":5,"seq":12,"event_type":"job_progress"}'] }]) {
      const served = await serveJoin(sources([{ state: ended, history: null }, tail], undefined), 5, null);
      const frames = 'frames' in served ? served.frames : [];
      expect(parse(frames[1]!)).toEqual(endEventOfState(ended));
    }
  });

  it('adds nothing to a history replay (its terminal event is in it) or to a running job', async () => {
    const replay = await serveJoin(sources([{ state: ended, history: [terminal] }], undefined), 5, { lastSeq: 11, epoch: 'E1' });
    expect(replay).toEqual({ frames: [terminal], servedSeq: 12 });
    const running = await serveJoin(sources([{ state: state(), history: null }], undefined), 5, null);
    expect('frames' in running ? running.frames : []).toHaveLength(1);
    const refused = await serveJoin(sources([{ state: ended, history: [] }], undefined), 5, { lastSeq: 13, epoch: null });
    expect(refused).toMatchObject({ close: { code: CLOSE_CODES.BAD_REQUEST } });
  });

  it('follows a row snapshot of an ended job with its terminal event rebuilt from the row', async () => {
    for (const status of ['completed', 'failed', 'cancelled'] as const) {
      const r = row({ status, error_message: status === 'failed' ? 'boom' : null });
      const served = await serveJoin(sources([NO_STREAM], r), 5, null);
      const frames = 'frames' in served ? served.frames : [];
      expect(frames, status).toHaveLength(2);
      expect(parse(frames[1]!)).toEqual(JSON.parse(JSON.stringify(endEventOfRow(r))));
    }
    const running = await serveJoin(sources([NO_STREAM], row({ status: 'running' })), 5, null);
    expect('frames' in running ? running.frames : []).toHaveLength(1);
  });

  it('rebuilds terminal events that say how the job ended', () => {
    expect(endEventOfState(ended)).toEqual({
      job_id: 5,
      seq: 12,
      event_type: 'job_completed',
      status: 'completed',
      progress: 100,
      results_count: 40,
      message: 'Job completed: 40 flights found',
      metadata: { epoch: 'E1', rebuilt: true },
      timestamp: '2026-01-01T00:05:00.000Z',
    });
    const failed = endEventOfState(state({ status: 'failed', progress: undefined, completed_at: undefined }));
    expect(failed).toMatchObject({ event_type: 'job_failed', progress: null, message: 'Job failed', timestamp: '2026-01-01T00:01:00.000Z' });
    expect(endEventOfState(state({ status: 'completed', progress: undefined }))).toMatchObject({ progress: 100 });

    expect(endEventOfRow(row())).toMatchObject({ event_type: 'job_completed', seq: 20, progress: 100, results_count: 33, message: 'Job completed: 33 flights found', metadata: { epoch: null, rebuilt: true }, timestamp: '2026-01-01T00:05:00.000Z' });
    expect(endEventOfRow(row()).metadata.error).toBeUndefined();
    expect(endEventOfRow(row({ status: 'failed', error_message: 'boom' }))).toMatchObject({ event_type: 'job_failed', message: 'Job failed: boom', metadata: { error: 'boom' } });
    expect(endEventOfRow(row({ status: 'cancelled', completed_at: null })).message).toBe('Job failed: cancelled');
    expect(Date.parse(endEventOfRow(row({ completed_at: null })).timestamp)).toBeGreaterThan(Date.parse('2026-01-02'));
  });

  it('shows what a row snapshot searches', () => {
    expect(snapshotOfRow(row()).metadata.params).toEqual(row().params);
  });
});

describe('serveJoin: a pending job, with the queue at hand', () => {
  const pending = row({ status: 'pending', last_seq: 0, progress: 0, items_scraped: 0, started_at: null, completed_at: null });
  // A queue whose wait list is at place 2 of 3 (newest first in Redis: LPOS from the tail).
  const queueSources = (rank: number | null) => ({
    redis: { lpos: async () => rank, llen: async () => 3 },
    queue: { keys: { wait: 'bull:scrape:wait' } },
  });

  it('says in the snapshot that the job is queued, since when and where', async () => {
    const s = { ...sources([NO_STREAM], pending), ...queueSources(1) } as unknown as JoinSources;
    const served = await serveJoin(s, 5, null);
    const snapshot = parse(('frames' in served ? served.frames : [])[0]!);
    expect(snapshot.metadata).toMatchObject({ queued: true, queued_since: '2026-01-01T00:00:00.000Z', queue_position: 2, queue_length: 3 });
  });

  it('says nothing about a queue it was not given', async () => {
    const served = await serveJoin(sources([NO_STREAM], pending), 5, null);
    expect(parse(('frames' in served ? served.frames : [])[0]!).metadata.queued).toBeUndefined();
    const onlyRedis = { ...sources([NO_STREAM], pending), redis: queueSources(1).redis } as unknown as JoinSources;
    const again = await serveJoin(onlyRedis, 5, null);
    expect(parse(('frames' in again ? again.frames : [])[0]!).metadata.queued).toBeUndefined();
  });

  it('says nothing about a queue for a job a worker has started', async () => {
    const s = { ...sources([NO_STREAM], row({ status: 'running' })), ...queueSources(1) } as unknown as JoinSources;
    const served = await serveJoin(s, 5, null);
    expect(parse(('frames' in served ? served.frames : [])[0]!).metadata.queued).toBeUndefined();
  });
});

describe('serveJoin: a stream of another job row', () => {
  const withIdentities = (reads: JobRead[], jobRow: ScrapingJob | undefined) => {
    const s = sources(reads, jobRow);
    return { ...s, identities: new JobIdentities(s.db) };
  };

  it('serves a stream written for the row, reading the row once for many joins', async () => {
    const s = withIdentities([{ state: state({ identity: 'row-5' }), history: null }], row({ status: 'running' }));
    for (let i = 0; i < 3; i++) expect(parse((await serveJoin(s, 5, null) as { frames: string[] }).frames[0]!).metadata.epoch).toBe('E1');
    expect(s.identities.lookups).toBe(1);
  });

  it('treats a stream written for another row of the same id as absent: the row is served', async () => {
    const pending = row({ status: 'pending', last_seq: 0, started_at: null, completed_at: null, progress: 0, items_scraped: 0 });
    const s = withIdentities([{ state: state({ identity: 'old-row', status: 'completed', seq: 40 }), history: null }], pending);
    const served = await serveJoin(s, 5, null);
    expect('servedSeq' in served && served.servedSeq).toBe(0);
    const snapshot = parse((served as { frames: string[] }).frames[0]!);
    expect(snapshot).toMatchObject({ seq: 0, status: 'pending', metadata: { epoch: null, snapshot: true } });
    expect((served as { frames: string[] }).frames).toHaveLength(1); // no terminal event of the old job
  });

  it('answers not found for a stream whose row is gone', async () => {
    const s = withIdentities([{ state: state({ identity: 'old-row' }), history: null }], undefined);
    expect(await serveJoin(s, 5, null)).toMatchObject({ close: { code: CLOSE_CODES.NOT_FOUND } });
  });
});
