import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob, markJobCompleted } from '../../shared/db/jobs.repository.js';
import type { EventDraft, EventType, JobStatus } from '../../shared/events.js';
import type { JobEventLog } from '../../shared/redis/job-event-log.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { httpJson, RecordingClient } from '../helpers/ws-client.js';

const params = { origins: ['MUC'], destinations: ['BCN'], date_ranges: [['2027-01-10', '2027-01-17']] as [string, string][], scrapers: ['sim-kiwi' as const] };

function draft(type: EventType, status: JobStatus, progress: number | null, results = 0): EventDraft {
  return { event_type: type, status, progress, results_count: results, message: `${type} ${progress ?? ''}`, metadata: {}, timestamp: new Date().toISOString() };
}

describe('WS /ws/scraping/{job_id}', () => {
  let f: GatewayFixture;
  let log: JobEventLog;

  beforeAll(async () => {
    f = await startGatewayFixture();
    log = f.eventLog(50);
  });
  afterAll(() => f?.close());

  const newJob = async () => (await insertPendingJob(f.database.db, params)).id;
  const connect = async (path: string) => {
    const client = new RecordingClient(`ws://${f.host}${path}`);
    await client.opened;
    return client;
  };

  it('sends a snapshot, then every event in seq order, exactly as the history holds them', async () => {
    const id = await newJob();
    const client = await connect(`/ws/scraping/${id}`);
    const snapshot = await client.waitForEvent(() => true);
    expect(snapshot).toMatchObject({ job_id: id, seq: 0, event_type: 'job_progress', status: 'pending', message: `Connected to job ${id}` });

    await log.append(id, draft('job_started', 'running', 0));
    for (let i = 1; i <= 8; i++) await log.append(id, draft('job_progress', 'running', i * 10, i));
    await log.append(id, draft('job_completed', 'completed', 100, 8));
    await client.waitForEvent((e) => e.event_type === 'job_completed');

    expect(client.seqs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const history = await f.redis.redis.lrange(f.keys.jobHistory(id), 0, -1);
    expect(client.texts.slice(1)).toEqual(history);
    client.close();
  });

  it('serves a client that joins mid-job a snapshot at the current seq, then only what follows', async () => {
    const id = await newJob();
    await log.append(id, draft('job_started', 'running', 0));
    for (let i = 1; i <= 4; i++) await log.append(id, draft('job_progress', 'running', i * 10, i));
    const client = await connect(`/ws/scraping/${id}`);
    const snapshot = await client.waitForEvent(() => true);
    expect(snapshot).toMatchObject({ seq: 5, status: 'running', progress: 40, results_count: 4 });
    expect(snapshot.metadata).toMatchObject({ job_type: 'flights', source: 'orchestrator', snapshot: true });
    expect(snapshot.metadata.started_at).toEqual(expect.any(String));

    for (let i = 5; i <= 6; i++) await log.append(id, draft('job_progress', 'running', i * 10, i));
    await log.append(id, draft('job_completed', 'completed', 100, 6));
    await client.waitForEvent((e) => e.event_type === 'job_completed');
    expect(client.seqs).toEqual([5, 6, 7, 8]);
    client.close();
  });

  it('answers an unknown job with job_failed "Job N not found" and close 4404', async () => {
    const client = await connect('/ws/scraping/987654');
    const closed = await client.closed;
    expect(closed.code).toBe(4404);
    expect(client.events).toHaveLength(1);
    expect(client.events[0]).toMatchObject({ job_id: 987654, event_type: 'job_failed', message: 'Job 987654 not found' });
  });

  it('refuses a non-integer job id or a malformed last_seq at upgrade with HTTP 400', async () => {
    for (const path of ['/ws/scraping/abc', '/ws/scraping/0', '/ws/scraping/1.5', '/ws/scraping/1?last_seq=-1', '/ws/scraping/1?last_seq=x']) {
      const client = new RecordingClient(`ws://${f.host}${path}`);
      await expect(client.opened, path).rejects.toThrow('HTTP 400');
    }
  });

  it('answers ping with pong and an unknown frame with an error, keeping the stream', async () => {
    const id = await newJob();
    const client = await connect(`/ws/scraping/${id}`);
    client.send('ping');
    client.send('{"hello":1}');
    await expect.poll(() => client.texts.filter((t) => !t.startsWith('{"job_id"'))).toEqual(['pong', expect.stringContaining('UNKNOWN_MESSAGE')]);
    await log.append(id, draft('job_started', 'running', 0));
    await client.waitForEvent((e) => e.seq === 1);
    client.close();
  });

  it('serves a job Redis no longer knows from Postgres', async () => {
    const id = await newJob();
    await markJobCompleted(f.database.db, id, { itemsScraped: 12, lastSeq: 30 });
    const client = await connect(`/ws/scraping/${id}`);
    const snapshot = await client.waitForEvent(() => true);
    expect(snapshot).toMatchObject({ seq: 30, status: 'completed', progress: 100, results_count: 12 });
    client.close();
  });

  it('resumes after last_seq from history, then live; refuses a last_seq ahead of the job', async () => {
    const id = await newJob();
    for (let i = 1; i <= 6; i++) await log.append(id, draft('job_progress', 'running', i * 10, i));
    const first = await connect(`/ws/scraping/${id}`);
    const epoch = (await first.waitForEvent(() => true)).metadata.epoch as string;
    first.close();

    const resumed = await connect(`/ws/scraping/${id}?last_seq=3&epoch=${epoch}`);
    await resumed.waitForEvent((e) => e.seq === 6);
    await log.append(id, draft('job_progress', 'running', 70, 7));
    await resumed.waitForEvent((e) => e.seq === 7);
    expect(resumed.seqs).toEqual([4, 5, 6, 7]);
    resumed.close();

    const otherEpoch = await connect(`/ws/scraping/${id}?last_seq=3&epoch=1`);
    const resync = await otherEpoch.waitForEvent(() => true);
    expect(resync).toMatchObject({ seq: 7, metadata: { resync: true, epoch } });
    otherEpoch.close();

    const ahead = await connect(`/ws/scraping/${id}?last_seq=99`);
    expect((await ahead.closed).code).toBe(4400);
  });

  it('reports the native uWS binary and its channels in /ws/stats', async () => {
    const { status, body } = await httpJson(`http://${f.host}/ws/stats`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ uws_native: true, redis_connected: true, gateway_id: expect.any(String) });
    expect(body.uws_binary).toMatch(/uws_linux_x64_\d+\.node$/);
    for (const field of ['total_connections', 'active_jobs', 'redis_channels', 'events_forwarded']) expect(body[field]).toEqual(expect.any(Number));
  });

  it('holds no Redis subscription and no topic after 1,000 clients came and went across 50 jobs', async () => {
    const ids = await Promise.all(Array.from({ length: 50 }, () => newJob()));
    for (let round = 0; round < 2; round++) {
      const clients = Array.from({ length: 500 }, (_, i) => new RecordingClient(`ws://${f.host}/ws/scraping/${ids[i % 50]}`));
      await Promise.all(clients.map((c) => c.opened));
      // Half leave while their snapshot is still being read, half once they are live.
      clients.slice(0, 250).forEach((c) => c.terminate());
      await Promise.all(clients.slice(250).map((c) => c.waitForEvent(() => true)));
      const { body: during } = await httpJson(`http://${f.host}/ws/stats`);
      expect(during.active_jobs).toBe(50);
      clients.slice(250).forEach((c) => c.close());
      await Promise.all(clients.map((c) => c.closed));
    }
    await expect.poll(async () => (await httpJson(`http://${f.host}/ws/stats`)).body).toMatchObject({ total_connections: 0, active_jobs: 0, redis_channels: 0, topics: 0 });
    expect(await f.redis.redis.pubsub('CHANNELS', `${f.redis.keyPrefix}*`)).toEqual([]);
  });
});
