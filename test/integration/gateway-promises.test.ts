import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findJob, insertPendingJob, markJobRunning } from '../../shared/db/jobs.repository.js';
import { CLOSE_CODES } from '../../shared/protocol.js';
import { progress } from '../helpers/drafts.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { params } from '../helpers/jobs.js';
import { expectSeqs, httpJson, RecordingClient } from '../helpers/ws-client.js';

/*
 * The README's promises that no other test pins down, each against a running gateway: refusals
 * and closes, resumes from beyond history and of jobs only Postgres knows, limits, the job API's
 * URLs and its failure path, and the /ws/stats counters.
 */

const IDLE_SECONDS = 8;

/** A WebSocket client that completes the handshake and then never sends a byte (no pong either). */
function silentSocket(host: string, path: string): { socket: Socket; closedAt: Promise<number>; upgraded: Promise<string> } {
  const [hostname, port] = host.split(':');
  const socket = connect({ host: hostname!, port: Number(port) });
  socket.on('error', () => undefined);
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  const upgraded = new Promise<string>((resolve) => socket.once('data', (chunk) => resolve(chunk.toString('latin1').split('\r\n')[0]!)));
  const closedAt = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  return { socket, closedAt, upgraded };
}

describe('gateway promises', () => {
  let f: GatewayFixture;
  const clients: RecordingClient[] = [];
  const ws = (path: string, label = path) => {
    const c = new RecordingClient(`ws://${f.host}${path}`, {}, label);
    clients.push(c);
    return c;
  };
  const newJob = async () => (await insertPendingJob(f.database.db, params())).id;

  // Opened first, checked last: the idle timeout runs while the other tests do.
  let silent: ReturnType<typeof silentSocket>;
  let silentOpened: number;
  let answering: RecordingClient;

  beforeAll(async () => {
    f = await startGatewayFixture({ WS_IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS) });
    const jobId = await newJob();
    silentOpened = Date.now();
    silent = silentSocket(f.host, `/ws/scraping/${jobId}`);
    answering = ws(`/ws/scraping/${jobId}`, 'answers pings');
  });
  afterAll(async () => {
    for (const c of clients) c.terminate();
    await f?.close();
  });

  it('counts in /ws/stats what it received, forwarded and dropped, and the connections and channels it holds', async () => {
    const before = await f.stats();
    const jobId = await newJob();
    const log = f.eventLog();
    const [a, b] = [ws(`/ws/scraping/${jobId}`, 'a'), ws(`/ws/scraping/${jobId}`, 'b')];
    await Promise.all([a.waitForEvent(() => true), b.waitForEvent(() => true)]);
    for (let p = 1; p <= 3; p++) await log.append(jobId, progress(p));
    await Promise.all([a.waitForEvent((e) => e.seq === 3), b.waitForEvent((e) => e.seq === 3)]);
    // The same event published again (an at-least-once emitter retrying): dropped, not sent twice.
    const last = (await f.redis.redis.lrange(f.keys.jobHistory(jobId), -1, -1))[0]!;
    await f.redis.redis.publish(f.keys.jobChannel(jobId), last);
    await log.append(jobId, progress(4));
    await Promise.all([a.waitForEvent((e) => e.seq === 4), b.waitForEvent((e) => e.seq === 4)]);
    expectSeqs(a, [0, 1, 2, 3, 4]);
    const during = await f.stats();
    const delta = (name: string) => (during[name] as number) - (before[name] as number);
    expect({
      total_connections: delta('total_connections'),
      connections_opened: delta('connections_opened'),
      active_jobs: delta('active_jobs'),
      redis_channels: delta('redis_channels'),
      topics: delta('topics'),
      events_received: delta('events_received'),
      events_forwarded: delta('events_forwarded'),
      duplicates_dropped: delta('duplicates_dropped'),
      gaps_recovered: delta('gaps_recovered'),
      resyncs: delta('resyncs'),
    }).toEqual({
      total_connections: 2,
      connections_opened: 2,
      active_jobs: 1,
      redis_channels: 1,
      topics: 1,
      events_received: 5,
      events_forwarded: 4,
      duplicates_dropped: 1,
      gaps_recovered: 0,
      resyncs: 0,
    });
    expect(during).toMatchObject({ redis_connected: true, draining: false, slow_consumers_closed: 0 });
    a.close();
    b.close();
    await expect.poll(async () => (await f.stats()).total_connections, { timeout: 5000 }).toBe(before.total_connections);
    expect(await f.stats()).toMatchObject({ active_jobs: before.active_jobs, redis_channels: before.redis_channels });
  });

  it('closes with 4003 a client whose job could not be read, and serves the job once it can be', async () => {
    const jobId = await newJob();
    // A state key of the wrong type: Redis answers the read with an error, as an unavailable one would.
    await f.redis.redis.set(f.keys.jobState(jobId), 'not a hash');
    const refused = ws(`/ws/scraping/${jobId}`, 'refused');
    expect(await refused.waitForClose()).toEqual({ code: CLOSE_CODES.UNAVAILABLE, reason: 'event stream unavailable, retry' });
    expect(refused.events).toEqual([]);
    await f.redis.redis.del(f.keys.jobState(jobId));
    const again = ws(`/ws/scraping/${jobId}`, 'retry');
    expect(await again.waitForEvent(() => true)).toMatchObject({ seq: 0, metadata: { snapshot: true } });
  });

  it('serves a resync snapshot to a resume from further back than history holds, then live', async () => {
    const jobId = await newJob();
    const log = f.eventLog(3);
    let epoch = '';
    for (let p = 1; p <= 10; p++) epoch = (await log.append(jobId, progress(p))).epoch;
    const c = ws(`/ws/scraping/${jobId}?last_seq=2&epoch=${epoch}`, 'resumer');
    expect(await c.waitForEvent(() => true)).toMatchObject({ seq: 10, metadata: { snapshot: true, resync: true, epoch } });
    await log.append(jobId, progress(11));
    await c.waitForEvent((e) => e.seq === 11);
    expectSeqs(c, [10, 11]);
    // Within history: the events after the resume point, no snapshot.
    const inside = ws(`/ws/scraping/${jobId}?last_seq=9&epoch=${epoch}`, 'inside');
    await inside.waitForEvent((e) => e.seq === 11);
    expectSeqs(inside, [10, 11]);
    expect(inside.events[0]!.metadata.snapshot).toBeUndefined();
  });

  it('resumes a job only Postgres knows with a resync snapshot of its row, and refuses a last_seq ahead of it with 4400', async () => {
    const jobId = await newJob();
    await markJobRunning(f.database.db, jobId);
    await f.database.db.updateTable('scraping_jobs').set({ last_seq: 20, progress: 55, items_scraped: 9 }).where('id', '=', jobId).execute();
    const behind = ws(`/ws/scraping/${jobId}?last_seq=5&epoch=123`, 'behind');
    expect(await behind.waitForEvent(() => true)).toMatchObject({ seq: 20, status: 'running', progress: 55, results_count: 9, metadata: { snapshot: true, resync: true, epoch: null } });
    const ahead = ws(`/ws/scraping/${jobId}?last_seq=21`, 'ahead');
    expect(await ahead.waitForClose()).toEqual({ code: CLOSE_CODES.BAD_REQUEST, reason: `last_seq 21 is ahead of job ${jobId} (seq 20)` });
    expect(ahead.events).toEqual([]);
  });

  it("closes (4001) a client its own send finds past the backpressure limit, counted in slow_consumers_closed", async () => {
    const jobId = await newJob();
    const log = f.eventLog(64);
    // 64 events of 200 KB: a resume from 0 is one batch of 12.8 MB, far past WS_MAX_BACKPRESSURE_BYTES (1 MiB).
    const padding = 'x'.repeat(200_000);
    for (let i = 1; i <= 64; i++) await log.append(jobId, progress(i, { message: padding }));
    const before = (await f.stats()).slow_consumers_closed as number;
    // A client that stops reading right after the handshake.
    const stalled = silentSocket(f.host, `/ws/scraping/${jobId}?last_seq=0`);
    stalled.socket.once('data', () => stalled.socket.pause());
    expect(await stalled.upgraded).toBe('HTTP/1.1 101 Switching Protocols');
    await expect.poll(async () => (await f.stats()).slow_consumers_closed, { timeout: 10_000 }).toBe(before + 1);
    stalled.socket.destroy();
    await f.redis.redis.del(f.keys.jobHistory(jobId));
  });

  it('refuses a malformed epoch at upgrade with HTTP 400', async () => {
    const jobId = await newJob();
    const refused = silentSocket(f.host, `/ws/scraping/${jobId}?last_seq=1&epoch=abc`);
    const response = await new Promise<string>((resolve) => {
      let text = '';
      refused.socket.on('data', (chunk) => {
        text += chunk.toString('latin1');
        if (text.endsWith('}}')) resolve(text);
      });
      refused.socket.once('close', () => resolve(text));
      setTimeout(() => resolve(text), 2000);
    });
    refused.socket.destroy();
    expect(response.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(response).toContain('{"error":{"code":"BAD_RESUME_POINT","message":"epoch: must be the epoch a previous event carried"}}');
    // The same request with a well-formed epoch upgrades.
    const ok = ws(`/ws/scraping/${jobId}?last_seq=0&epoch=123`, 'well-formed epoch');
    await ok.opened;
  });

  it('limits client messages to 4 KiB: one of 4 KiB is answered, a longer one ends the connection', async () => {
    const jobId = await newJob();
    const c = ws(`/ws/scraping/${jobId}`, 'talker');
    await c.waitForEvent(() => true);
    c.send('x'.repeat(4096));
    await expect.poll(() => c.texts.some((t) => t.includes('UNKNOWN_MESSAGE')), { timeout: 5000 }).toBe(true);
    expect(c.closeInfo).toBeNull();
    c.send('x'.repeat(4097));
    const close = await c.waitForClose(5000);
    expect(close.code, c.describe()).not.toBe(1000);
  });

  it('answers POST /api/jobs with a Location header, and URLs that ignore forwarded headers from an untrusted client', async () => {
    const body = JSON.stringify({ origins: ['MUC'], destinations: ['BCN'], date_ranges: [['2027-03-01', '2027-03-05']], scrapers: ['sim-kiwi'] });
    const direct = await httpJson(`http://${f.host}/api/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    expect(direct.status).toBe(202);
    const id = direct.body.job_id as number;
    expect(direct.headers.get('location')).toBe(`/ws/scraping/${id}/status`);
    expect(direct.body).toEqual({ job_id: id, status: 'pending', ws_url: `ws://${f.host}/ws/scraping/${id}`, status_url: `http://${f.host}/ws/scraping/${id}/status` });

    const forwarded = await httpJson(`http://${f.host}/api/jobs`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-Host': 'scout.example:8443', 'X-Forwarded-Proto': 'https' },
      body,
    });
    const fid = forwarded.body.job_id as number;
    // X-Forwarded-* count only from TRUSTED_PROXIES (the load balancer: http-hardening.test.ts).
    expect(forwarded.body).toMatchObject({ ws_url: `ws://${f.host}/ws/scraping/${fid}`, status_url: `http://${f.host}/ws/scraping/${fid}/status` });
    expect(forwarded.headers.get('location')).toBe(`/ws/scraping/${fid}/status`);
  });

  it('answers 503 UNAVAILABLE when the job cannot be queued, and leaves no job row behind', async () => {
    // The queue's metadata key of the wrong type: BullMQ's add script fails inside Redis.
    const meta = `${f.keys.bullmqPrefix}:scrape:meta`;
    const saved = await f.redis.redis.hgetall(meta);
    await f.redis.redis.del(meta);
    await f.redis.redis.set(meta, 'not a hash');
    const count = async () => Number((await f.database.db.selectFrom('scraping_jobs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    try {
      const rowsBefore = await count();
      const before = await insertPendingJob(f.database.db, params());
      const body = JSON.stringify({ origins: ['MUC'], destinations: ['BCN'], date_ranges: [['2027-03-01', '2027-03-05']] });
      const res = await httpJson(`http://${f.host}/api/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('UNAVAILABLE');
      // The request's row was created (the id after it is taken) and removed again.
      expect(await findJob(f.database.db, before.id + 1)).toBeUndefined();
      expect(await count()).toBe(rowsBefore + 1);
      const after = await insertPendingJob(f.database.db, params());
      expect(after.id).toBe(before.id + 2);
    } finally {
      await f.redis.redis.del(meta);
      if (Object.keys(saved).length > 0) await f.redis.redis.hset(meta, saved);
    }
  });

  it('reports a running job through the polling fallback: started, running, a duration up to now', async () => {
    const jobId = await newJob();
    await markJobRunning(f.database.db, jobId);
    await f.database.db.updateTable('scraping_jobs').set({ progress: 40, items_scraped: 7, last_seq: 12 }).where('id', '=', jobId).execute();
    const { status, body } = await httpJson(`http://${f.host}/ws/scraping/${jobId}/status`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      job_id: jobId,
      status: 'running',
      is_running: true,
      is_completed: false,
      is_failed: false,
      progress: 40,
      items_scraped: 7,
      last_seq: 12,
      completed_at: null,
      error_message: null,
    });
    expect(Date.parse(body.started_at)).toBeLessThanOrEqual(Date.now());
    expect(body.duration_seconds).toBeGreaterThan(0);
    expect(body.duration_seconds).toBeLessThan(30);
  });

  it(`closes a socket that stays silent for WS_IDLE_TIMEOUT_SECONDS (${IDLE_SECONDS} s), and keeps one that answers pings`, async () => {
    expect(await silent.upgraded).toBe('HTTP/1.1 101 Switching Protocols');
    await answering.waitForEvent(() => true);
    const idleFor = ((await silent.closedAt) - silentOpened) / 1000;
    // uWS checks timeouts every 4 s: closed within one round of the timeout (the default is 60 s).
    expect(idleFor).toBeGreaterThanOrEqual(IDLE_SECONDS - 4);
    expect(idleFor).toBeLessThan(IDLE_SECONDS + 6);
    await new Promise((r) => setTimeout(r, 1000));
    expect(answering.closeInfo, answering.describe()).toBeNull();
  }, 30_000);
});
