import { describe, expect, it } from 'vitest';
import { serveJoin, type JoinSources } from '../../gateway/ws/serve-join.js';
import type { JobEventLog, JobLiveState } from '../../shared/redis/job-event-log.js';

/*
 * A client of a stream that restarted (Redis lost it; the next event began a new epoch at seq 1)
 * resumes with a seq above the new stream's: it is served a resync snapshot, not refused — on the
 * legacy path that refusal (4400) would stop a client for good.
 */

const state: JobLiveState = {
  job_id: 5,
  seq: 1,
  epoch: 'E2',
  status: 'running',
  results_count: 0,
  event_type: 'job_progress',
  updated_at: '2026-01-01T00:01:00.000Z',
};

const sources = { eventLog: { read: async () => ({ state, history: [] }) } as unknown as JobEventLog, db: null } as unknown as JoinSources;

describe('serveJoin: a resume from another epoch', () => {
  it('serves a resync snapshot even when the held seq is above the new stream', async () => {
    const served = await serveJoin(sources, 5, { lastSeq: 6, epoch: 'E1' });
    expect(served).toMatchObject({ servedSeq: 1, snapshot: true });
    const frame = JSON.parse(('frames' in served ? served.frames : [])[0]!.toString());
    expect(frame.metadata).toMatchObject({ snapshot: true, resync: true, epoch: 'E2' });
  });

  it('still refuses a seq ahead of a stream it names no epoch of', async () => {
    expect(await serveJoin(sources, 5, { lastSeq: 6, epoch: null })).toMatchObject({ close: { code: 4400 } });
  });
});
