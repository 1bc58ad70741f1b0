import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { CLOSE_CODES } from '../../shared/protocol.js';
import { progress } from '../helpers/drafts.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { oneToN, params } from '../helpers/jobs.js';
import { redisUrl } from '../helpers/services.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { expectSeqs, RecordingClient } from '../helpers/ws-client.js';

/*
 * Failure injection for the fan-out: the gateway reaches Redis through a proxy the test controls,
 * so its subscriber is dropped at an exact point while the test keeps emitting straight into Redis.
 * Events published meanwhile are lost to pub/sub; only the gateway's gap recovery (history fill in
 * gateway/ws/job-channels.ts) or its resync can make the clients whole.
 */
describe('fan-out under a dropped subscriber', () => {
  let proxy: TcpProxy & { url: string };
  let f: GatewayFixture;
  let clients: RecordingClient[] = [];

  beforeAll(async () => {
    proxy = await TcpProxy.forRedis(redisUrl());
    f = await startGatewayFixture({}, { redisUrl: proxy.url });
  });
  afterEach(async () => {
    for (const c of clients) c.terminate();
    clients = [];
    // Every channel released: the next test's recovery counts only its own job.
    await expect.poll(async () => (await f.stats()).active_jobs, { timeout: 5000 }).toBe(0);
  });
  afterAll(async () => {
    await f?.close();
    await proxy?.close();
  });

  const newJob = async () => (await insertPendingJob(f.database.db, params())).id;
  const connect = (jobId: number, n: number, query = '') =>
    Array.from({ length: n }, (_, i) => {
      const c = new RecordingClient(`ws://${f.host}/ws/scraping/${jobId}${query}`, {}, `client ${i} of job ${jobId}`);
      clients.push(c);
      return c;
    });
  const counters = async () => {
    const s = await f.stats();
    return { gaps: s.gaps_recovered as number, resyncs: s.resyncs as number };
  };

  /** Drops every gateway connection to Redis and waits until the gateway knows. */
  async function dropSubscriber(): Promise<void> {
    expect(proxy.cut(), 'connections through the proxy').toBeGreaterThan(0);
    await expect.poll(async () => (await f.stats()).redis_connected, { timeout: 10_000 }).toBe(false);
  }
  async function restore(): Promise<void> {
    proxy.restore();
    await expect.poll(async () => (await f.stats()).redis_connected, { timeout: 10_000 }).toBe(true);
  }

  it('fills the events missed while the subscriber was down from history: every client gets exactly the missed seqs', async () => {
    const jobId = await newJob();
    const log = f.eventLog();
    const watchers = connect(jobId, 5);
    await Promise.all(watchers.map((c) => c.waitForEvent((e) => e.seq === 0)));
    for (let p = 1; p <= 3; p++) await log.append(jobId, progress(p));
    await Promise.all(watchers.map((c) => c.waitForEvent((e) => e.seq === 3)));
    const before = await counters();

    await dropSubscriber();
    for (let p = 4; p <= 8; p++) await log.append(jobId, progress(p)); // lost to pub/sub
    await restore();
    await Promise.all(watchers.map((c) => c.waitForEvent((e) => e.seq === 8)));
    for (let p = 9; p <= 10; p++) await log.append(jobId, progress(p));
    await Promise.all(watchers.map((c) => c.waitForEvent((e) => e.seq === 10)));

    for (const c of watchers) expectSeqs(c, [0, ...oneToN(10)]);
    expect(await counters()).toEqual({ gaps: before.gaps + 1, resyncs: before.resyncs });
  });

  it('closes the clients with 4000 when history no longer holds the outage, and they resync', async () => {
    const jobId = await newJob();
    const log = f.eventLog(3); // history holds 3 events; the outage is 9
    const watchers = connect(jobId, 3);
    await Promise.all(watchers.map((c) => c.waitForEvent((e) => e.seq === 0)));
    for (let p = 1; p <= 3; p++) await log.append(jobId, progress(p));
    await Promise.all(watchers.map((c) => c.waitForEvent((e) => e.seq === 3)));
    const epoch = watchers[0]!.events.at(-1)!.metadata.epoch as string;
    const before = await counters();

    await dropSubscriber();
    for (let p = 4; p <= 12; p++) await log.append(jobId, progress(p));
    await restore();
    for (const c of watchers) {
      const close = await c.waitForClose();
      expect(close.code, `${c.label}: ${c.describe()}`).toBe(CLOSE_CODES.RESYNC);
      expectSeqs(c, [0, 1, 2, 3]); // nothing after the gap was passed on
    }
    expect(await counters()).toEqual({ gaps: before.gaps, resyncs: before.resyncs + 1 });

    // Resuming from where they stopped: a resync snapshot of the current state, then live.
    const [resumed] = connect(jobId, 1, `?last_seq=3&epoch=${epoch}`);
    const snapshot = await resumed!.waitForEvent(() => true);
    expect(snapshot).toMatchObject({ seq: 12, metadata: { snapshot: true, resync: true, epoch } });
    await log.append(jobId, progress(13));
    await resumed!.waitForEvent((e) => e.seq === 13);
    expectSeqs(resumed!, [12, 13]);
  });

  it('closes the clients with 4000 when the stream restarts below what was forwarded', async () => {
    const jobId = await newJob();
    const log = f.eventLog();
    const watchers = connect(jobId, 3);
    await Promise.all(watchers.map((c) => c.waitForEvent((e) => e.seq === 0)));
    for (let p = 1; p <= 5; p++) await log.append(jobId, progress(p));
    await Promise.all(watchers.map((c) => c.waitForEvent((e) => e.seq === 5)));
    const before = await counters();

    // Redis lost the job's stream and its emitter knows no floor: a new epoch from seq 1.
    await f.redis.redis.del(f.keys.jobState(jobId), f.keys.jobHistory(jobId));
    await log.append(jobId, progress(6), 0);
    for (const c of watchers) {
      const close = await c.waitForClose();
      expect(close.code, `${c.label}: ${c.describe()}`).toBe(CLOSE_CODES.RESYNC);
      expectSeqs(c, [0, 1, 2, 3, 4, 5]); // the restarted seq 1 was never passed on
    }
    expect(await counters()).toEqual({ gaps: before.gaps, resyncs: before.resyncs + 1 });
  });
});
