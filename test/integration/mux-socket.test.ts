import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import type { EventDraft, EventType } from '../../shared/events.js';
import { SUBPROTOCOL_MSGPACK } from '../../shared/protocol-v2.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { oneToN, params } from '../helpers/jobs.js';
import { MuxTestClient } from '../helpers/mux-client.js';
import { MuxWatcher } from '../helpers/mux-watchers.js';

const draft = (i: number, type: EventType = 'job_progress'): EventDraft => ({
  event_type: type,
  status: type === 'job_completed' ? 'completed' : 'running',
  progress: Math.min(100, i),
  results_count: i,
  message: `event ${i}`,
  metadata: {},
  timestamp: new Date().toISOString(),
});

/** Types of a scripted job: progress, with a scraper event every 5th and results every 7th. */
const typeOf = (i: number): EventType => (i % 7 === 0 ? 'results_updated' : i % 5 === 0 ? 'scraper_completed' : 'job_progress');

describe('WS /ws: many jobs on one connection', () => {
  let f: GatewayFixture;
  beforeAll(async () => {
    f = await startGatewayFixture({ MAX_SUBSCRIPTIONS_PER_CONNECTION: '3' });
  });
  afterAll(() => f?.close());

  const newJob = async () => (await insertPendingJob(f.database.db, params())).id;

  it('serves a resumed job, a filtered job and an unknown job on one connection; the unknown one only gets an error', async () => {
    const [a, b] = [await newJob(), await newJob()];
    const log = f.eventLog();
    for (let i = 1; i <= 20; i++) await log.append(a, draft(i, typeOf(i)));
    for (let i = 1; i <= 20; i++) await log.append(b, draft(i, typeOf(i)));
    const client = new MuxTestClient(`ws://${f.host}/ws`);
    // The same filter on the legacy path, as a query.
    const legacy = new MuxTestClient(`ws://${f.host}/ws/scraping/${b}?event_types=scraper_completed,results_updated`);
    await Promise.all([client.opened, legacy.opened]);
    client.subscribe(a, { last_seq: 10 });
    client.subscribe(b, { event_types: ['scraper_completed', 'results_updated'] });
    client.subscribe(999_999);
    await client.waitFor(() => client.controlsOf(999_999).length > 0, 'error of the unknown job');
    expect(client.controlsOf(999_999)).toEqual([{ type: 'error', job_id: 999_999, code: 'NOT_FOUND', message: 'Job 999999 not found' }]);
    await client.waitFor(() => client.eventsOf(a).length >= 10 && client.eventsOf(b).length >= 1, 'history and snapshot');
    for (let i = 21; i <= 40; i++) {
      await log.append(a, draft(i, typeOf(i)));
      await log.append(b, draft(i, typeOf(i)));
    }
    await log.append(a, draft(41, 'job_completed'));
    await log.append(b, draft(41, 'job_completed'));
    await client.waitFor(() => client.eventsOf(a).some((e) => e.seq === 41), 'job a to its end');
    expect(client.eventsOf(a).map((e) => e.seq)).toEqual(oneToN(41).slice(10));
    expect(client.controlsOf(a)).toMatchObject([{ type: 'subscribed', job_id: a, event_types: null, progress_interval_ms: 0, seq: 20 }]);
    // Job b: the snapshot, then only the asked types (its job_completed is filtered out too).
    await client.waitFor(() => client.eventsOf(b).some((e) => e.seq === 40), 'job b to its last asked event');
    const [snapshot, ...rest] = client.eventsOf(b);
    expect(snapshot!.metadata.snapshot).toBe(true);
    expect(rest.map((e) => e.seq)).toEqual(oneToN(40).slice(20).filter((i) => typeOf(i) !== 'job_progress'));
    expect(client.controlsOf(b)[0]).toMatchObject({ type: 'subscribed', event_types: ['scraper_completed', 'results_updated'] });
    await legacy.waitFor(() => legacy.events.some((e) => e.seq === 40), 'legacy filtered client');
    expect(legacy.events).toEqual(client.eventsOf(b));
    await expect(new MuxTestClient(`ws://${f.host}/ws/scraping/${b}?event_types=job_exploded`).opened).rejects.toThrow(/400/);
    client.close();
    legacy.close();
  });

  it('answers ping, refuses bad messages, duplicates and a subscription past the limit per job, and keeps the connection', async () => {
    const jobs = [await newJob(), await newJob(), await newJob(), await newJob()];
    const client = new MuxTestClient(`ws://${f.host}/ws`);
    await client.opened;
    client.ws.send('{"type":"ping"}');
    client.ws.send('not json');
    client.ws.send('{"type":"subscribe","job_id":-3}');
    for (const job of jobs) client.subscribe(job);
    client.subscribe(jobs[0]!);
    await client.waitFor(() => client.controls.length >= 8, 'all answers');
    expect(client.controls.filter((c) => c.type === 'pong')).toHaveLength(1);
    expect(client.controlsOf(null).map((c) => c.code)).toEqual(['BAD_REQUEST', 'BAD_REQUEST']);
    expect(client.controlsOf(jobs[3]!)).toMatchObject([{ type: 'error', code: 'TOO_MANY_SUBSCRIPTIONS' }]);
    // The duplicate is refused at once; the first subscription's answer waits for its read.
    expect(client.controlsOf(jobs[0]!).map((c) => (c.type === 'error' ? c.code : c.type)).sort()).toEqual(['ALREADY_SUBSCRIBED', 'subscribed']);
    client.unsubscribe(jobs[0]!);
    client.subscribe(jobs[3]!);
    await client.waitFor(() => client.controlsOf(jobs[3]!).some((c) => c.type === 'subscribed'), 'the fourth job after an unsubscribe');
    expect(client.controlsOf(jobs[0]!).at(-1)).toEqual({ type: 'unsubscribed', job_id: jobs[0] });
    await f.eventLog().append(jobs[0]!, draft(1));
    await f.eventLog().append(jobs[3]!, draft(1));
    await client.waitFor(() => client.eventsOf(jobs[3]!).some((e) => e.seq === 1), 'the fourth job live');
    expect(client.eventsOf(jobs[0]!).filter((e) => e.seq === 1)).toEqual([]);
    client.close();
  });

  it('a MessagePack client and a JSON client with permessage-deflate decode identical events', async () => {
    const job = await newJob();
    const log = f.eventLog();
    await log.append(job, draft(1));
    const packed = new MuxTestClient(`ws://${f.host}/ws`, { protocols: [SUBPROTOCOL_MSGPACK] });
    const deflated = new MuxTestClient(`ws://${f.host}/ws`, { perMessageDeflate: true });
    const legacy = new MuxTestClient(`ws://${f.host}/ws/scraping/${job}`, { perMessageDeflate: true });
    await Promise.all([packed.opened, deflated.opened, legacy.opened]);
    expect(packed.headers['sec-websocket-protocol']).toBe(SUBPROTOCOL_MSGPACK);
    expect(deflated.headers['sec-websocket-extensions']).toMatch(/permessage-deflate/);
    expect(legacy.headers['sec-websocket-extensions']).toMatch(/permessage-deflate/);
    packed.subscribe(job, { last_seq: 0 });
    deflated.subscribe(job, { last_seq: 0 });
    await packed.waitFor(() => packed.events.length >= 1, 'msgpack history');
    await deflated.waitFor(() => deflated.events.length >= 1, 'json history');
    for (let i = 2; i <= 30; i++) await log.append(job, draft(i, typeOf(i)));
    for (const c of [packed, deflated, legacy]) await c.waitFor(() => c.events.some((e) => e.seq === 30), 'seq 30');
    expect(packed.events).toEqual(deflated.events);
    expect(legacy.events.filter((e) => !e.metadata.snapshot)).toEqual(deflated.events.slice(1));
    expect(packed.frameKinds.text).toBe(0);
    expect(deflated.frameKinds.binary).toBe(0);
    for (const c of [packed, deflated, legacy]) c.close();
  });
  it('a ScoutClient watching jobs that already ended gets each terminal event after the snapshot and ends, filters or not', async () => {
    const [done, failed] = [await newJob(), await newJob()];
    const log = f.eventLog();
    for (const job of [done, failed]) for (let i = 1; i <= 3; i++) await log.append(job, draft(i));
    await log.append(done, draft(4, 'job_completed'));
    await log.append(failed, { ...draft(4), event_type: 'job_failed', status: 'failed' });
    const watcher = new MuxWatcher(`http://${f.host}`);
    watcher.watch(done);
    watcher.watch(failed, { eventTypes: ['scraper_completed'] });
    await expect.poll(() => watcher.ended.size, { timeout: 10_000 }).toBe(2);
    expect(watcher.types.get(done)).toEqual(['job_completed']);
    expect(watcher.seqs.get(done)).toEqual([4]);
    expect(watcher.seqs.get(failed)).toEqual([]); // its filter keeps job_failed out: it ends on the snapshot
    watcher.client.close();
  });
  it('a job whose stream restarts gets a per-job resync on /ws; the connection and its other job carry on', async () => {
    const [restarted, steady] = [await newJob(), await newJob()];
    const log = f.eventLog();
    for (let i = 1; i <= 5; i++) await log.append(restarted, draft(i));
    await log.append(steady, draft(1));
    const client = new MuxTestClient(`ws://${f.host}/ws`);
    await client.opened;
    client.subscribe(restarted);
    client.subscribe(steady);
    await client.waitFor(() => client.controls.filter((c) => c.type === 'subscribed').length === 2 && client.events.length === 2, 'both snapshots');
    await log.append(restarted, draft(6));
    await client.waitFor(() => client.eventsOf(restarted).some((e) => e.seq === 6), 'a live event');
    // Redis loses the job's stream: the next event starts a new epoch at seq 1, below what was forwarded.
    await f.redis.redis.del(f.keys.jobState(restarted), f.keys.jobHistory(restarted));
    await log.append(restarted, draft(7));
    await client.waitFor(() => client.controlsOf(restarted).some((c) => c.type === 'resync'), 'the resync message');
    expect(client.controlsOf(restarted).at(-1)).toMatchObject({ type: 'resync', job_id: restarted, code: 4000 });
    await log.append(steady, draft(2));
    await client.waitFor(() => client.eventsOf(steady).some((e) => e.seq === 2), 'the other job live');
    // Subscribing afresh (what the SDK does on a 4000 resync) gets the new stream's snapshot.
    const oldEpoch = client.eventsOf(restarted).at(-1)!.metadata.epoch;
    client.subscribe(restarted);
    await client.waitFor(() => client.eventsOf(restarted).some((e) => e.metadata.snapshot === true && e.metadata.epoch !== oldEpoch), 'the new snapshot');
    expect(client.eventsOf(restarted).at(-1)).toMatchObject({ seq: 1, metadata: { snapshot: true } });
    client.close();
  });
});

describe('WS /ws: a draining gateway', () => {
  it('closes every /ws connection with 1001, those holding jobs and those holding none', async () => {
    const f = await startGatewayFixture({ DRAIN_TIMEOUT_SECONDS: '2' });
    try {
      const job = (await insertPendingJob(f.database.db, params())).id;
      const busy = new MuxTestClient(`ws://${f.host}/ws`);
      const idle = new MuxTestClient(`ws://${f.host}/ws`);
      await Promise.all([busy.opened, idle.opened]);
      busy.subscribe(job);
      await busy.waitFor(() => busy.events.length === 1, 'the snapshot');
      const stopped = f.gateway.stop();
      expect((await busy.closed).code).toBe(1001);
      expect((await idle.closed).code).toBe(1001);
      await stopped;
    } finally {
      await f.close();
    }
  });
});
