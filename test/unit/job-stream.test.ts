import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { backoffDelay } from '../../shared/client/backoff.js';
import type { JobStreamError } from '../../shared/client/job-stream-error.js';
import { JobStream, type JobStreamOptions, type StatusDetail, type StreamStatus } from '../../shared/client/job-stream.js';
import { streamUrl } from '../../shared/client/stream-url.js';
import type { ScrapingEvent } from '../../shared/events.js';

const JOB = 42;
const EPOCH = '1700000000000';

function event(seq: number, over: Partial<ScrapingEvent> = {}): ScrapingEvent {
  return {
    job_id: JOB,
    seq,
    event_type: 'job_progress',
    status: 'running',
    progress: Math.min(100, seq),
    results_count: seq,
    message: `event ${seq}`,
    metadata: { epoch: EPOCH },
    timestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
    ...over,
  };
}

function snapshot(seq: number, metadata: Record<string, unknown> = {}, over: Partial<ScrapingEvent> = {}): ScrapingEvent {
  return event(seq, { message: `Connected to job ${JOB}`, metadata: { epoch: EPOCH, snapshot: true, ...metadata }, ...over });
}

interface Connection {
  url: URL;
  socket: ServerSocket;
  received: string[];
  send(...events: (ScrapingEvent | string)[]): void;
}

/** A WebSocket server the test scripts frame by frame: the client under test cannot tell it from a gateway. */
class FakeGateway {
  readonly connections: Connection[] = [];
  private waiters: (() => void)[] = [];

  private constructor(readonly server: WebSocketServer) {
    server.on('connection', (socket, req) => {
      const received: string[] = [];
      socket.on('message', (data) => received.push(data.toString()));
      this.connections.push({
        url: new URL(req.url ?? '/', 'ws://fake'),
        socket,
        received,
        send: (...events) => {
          for (const e of events) socket.send(typeof e === 'string' ? e : JSON.stringify(e));
        },
      });
      this.waiters.splice(0).forEach((wake) => wake());
    });
  }

  static async start(): Promise<FakeGateway> {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    return new FakeGateway(server);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The n-th connection (0-based), waiting for it if it has not arrived yet. */
  async connection(n: number, timeoutMs = 3000): Promise<Connection> {
    const deadline = Date.now() + timeoutMs;
    while (!this.connections[n]) {
      if (Date.now() > deadline) throw new Error(`connection ${n} did not arrive within ${timeoutMs} ms (have ${this.connections.length})`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.connections[n]!;
  }

  async close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** A client under test with everything it reports recorded. */
function watch(gateway: FakeGateway, options: Partial<JobStreamOptions> = {}) {
  const stream = new JobStream({
    baseUrl: gateway.url,
    jobId: JOB,
    WebSocket,
    backoff: { baseMs: 10, maxMs: 40 },
    keepaliveMs: 0,
    ...options,
  });
  const seen = {
    events: [] as ScrapingEvent[],
    snapshots: [] as { snapshot: ScrapingEvent; resync: boolean }[],
    statuses: [] as { status: StreamStatus; detail: StatusDetail }[],
    ends: [] as ScrapingEvent[],
    errors: [] as JobStreamError[],
  };
  stream.on('event', (e) => seen.events.push(e));
  stream.on('snapshot', (snapshot, { resync }) => seen.snapshots.push({ snapshot, resync }));
  stream.on('status', (status, detail) => seen.statuses.push({ status, detail }));
  stream.on('end', (e) => seen.ends.push(e));
  stream.on('error', (e) => seen.errors.push(e));
  return { stream: stream.start(), seen, seqs: () => seen.events.map((e) => e.seq) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('JobStream (against a scripted WebSocket server)', () => {
  let gateway: FakeGateway;
  let streams: JobStream[];
  const track = <T extends { stream: JobStream }>(w: T): T => {
    streams.push(w.stream);
    return w;
  };

  beforeEach(async () => {
    gateway = await FakeGateway.start();
    streams = [];
  });
  afterEach(async () => {
    await Promise.all(streams.map((s) => s.close()));
    await gateway.close();
  });

  it('connects without a resume point, starts from the snapshot and delivers each event once, in order', async () => {
    const { stream, seen, seqs } = track(watch(gateway));
    const conn = await gateway.connection(0);
    expect(conn.url.pathname).toBe(`/ws/scraping/${JOB}`);
    expect(conn.url.search).toBe('');

    conn.send(snapshot(2), event(3), event(3), event(1), event(4), event(2), event(5));
    await expect.poll(() => seqs()).toEqual([3, 4, 5]);
    await sleep(30);
    expect(seqs()).toEqual([3, 4, 5]);
    expect(seen.snapshots).toEqual([{ snapshot: expect.objectContaining({ seq: 2 }), resync: false }]);
    expect(stream.duplicatesDropped).toBe(3);
    expect(stream.lastSeq).toBe(5);
    expect(stream.epoch).toBe(EPOCH);
    expect(seen.statuses.map((s) => s.status)).toEqual(['connecting', 'open']);
  });

  for (const [code, how] of [
    [1001, 'the gateway going away'],
    [4000, 'a resync request'],
    [4001, 'a slow-consumer close'],
    [1006, 'a dropped TCP connection'],
  ] as const) {
    it(`reconnects after ${how} (${code}) and resumes with last_seq and epoch, without gaps or duplicates`, async () => {
      const { seen, seqs } = track(watch(gateway));
      const first = await gateway.connection(0);
      first.send(snapshot(0), event(1), event(2), event(3));
      await expect.poll(() => seqs()).toEqual([1, 2, 3]);

      if (code === 1006) first.socket.terminate();
      else first.socket.close(code, 'test');

      const second = await gateway.connection(1);
      expect(second.url.searchParams.get('last_seq')).toBe('3');
      expect(second.url.searchParams.get('epoch')).toBe(EPOCH);
      // A gateway may replay from a little earlier; the client keeps exactly one of each.
      second.send(event(2), event(3), event(4), event(5, { event_type: 'job_completed', status: 'completed', progress: 100 }));

      await expect.poll(() => seen.ends.length).toBe(1);
      expect(seqs()).toEqual([1, 2, 3, 4, 5]);
      const reconnecting = seen.statuses.find((s) => s.status === 'reconnecting');
      expect(reconnecting?.detail).toMatchObject({ code, attempt: 1 });
      expect(seen.statuses.map((s) => s.status)).toEqual(['connecting', 'open', 'reconnecting', 'open', 'closed']);
    });
  }

  for (const code of [4404, 4400, 4403]) {
    it(`does not reconnect after ${code}: it reports the refusal and closes`, async () => {
      const { stream, seen } = track(watch(gateway));
      (await gateway.connection(0)).socket.close(code, 'no');
      await expect.poll(() => stream.status).toBe('closed');
      expect(await stream.finished()).toBeNull();
      await sleep(150); // many backoff periods of 10–40 ms
      expect(gateway.connections).toHaveLength(1);
      expect(seen.errors.map((e) => [e.code, e.detail.closeCode, e.retryable])).toEqual([['REFUSED', code, false]]);
      expect(seen.statuses.at(-1)).toEqual({ status: 'closed', detail: { code, reason: 'no' } });
    });
  }

  it('delivers the "Job N not found" notice (seq 0) as the end of the stream', async () => {
    const { stream, seen } = track(watch(gateway));
    const conn = await gateway.connection(0);
    conn.send(event(0, { event_type: 'job_failed', status: 'failed', progress: null, message: `Job ${JOB} not found`, metadata: { error: 'not_found' } }));
    conn.socket.close(4404, `Job ${JOB} not found`);
    const end = await stream.finished();
    expect(end).toMatchObject({ event_type: 'job_failed', message: `Job ${JOB} not found` });
    expect(seen.events.map((e) => e.message)).toEqual([`Job ${JOB} not found`]);
    expect(seen.errors).toEqual([]);
    expect(gateway.connections).toHaveLength(1);
  });

  it('a resync snapshot replaces seq and epoch, and the stream continues from it', async () => {
    const { stream, seen, seqs } = track(watch(gateway));
    const first = await gateway.connection(0);
    first.send(snapshot(8), event(9), event(10));
    await expect.poll(() => seqs()).toEqual([9, 10]);
    first.socket.close(4000, 'stream restarted');

    const second = await gateway.connection(1);
    expect(second.url.search).toBe(`?last_seq=10&epoch=${EPOCH}`);
    // Redis lost the stream: numbering went on from Postgres' floor under a new epoch.
    second.send(snapshot(4, { epoch: '1800000000000', resync: true }), event(5, { metadata: { epoch: '1800000000000' } }));
    await expect.poll(() => seqs()).toEqual([9, 10, 5]);
    expect(seen.snapshots.map((s) => [s.snapshot.seq, s.resync])).toEqual([
      [8, false],
      [4, true],
    ]);
    expect(stream.lastSeq).toBe(5);
    expect(stream.epoch).toBe('1800000000000');

    second.socket.close(1001);
    const third = await gateway.connection(2);
    expect(third.url.search).toBe('?last_seq=5&epoch=1800000000000');
  });

  it('reports bad frames as errors and keeps going; ignores the pong of its keepalive', async () => {
    const { seen, seqs } = track(watch(gateway));
    const conn = await gateway.connection(0);
    conn.send(snapshot(0), 'pong', 'not json', JSON.stringify({ error: { code: 'UNKNOWN_MESSAGE' } }), { ...event(1), job_id: 7 }, { ...event(1), progress: 250 }, event(1));
    await expect.poll(() => seqs()).toEqual([1]);
    expect(seen.errors.map((e) => e.code)).toEqual(['BAD_FRAME', 'BAD_FRAME', 'BAD_FRAME', 'BAD_FRAME']);
    expect(seen.errors[2]!.message).toContain('belongs to job 7');
    expect(seen.errors[3]!.message).toContain('progress');
  });

  it('a seq that skips ahead makes it resume from the last seq it holds', async () => {
    const { seen, seqs } = track(watch(gateway));
    const first = await gateway.connection(0);
    first.send(snapshot(0), event(1), event(2), event(4));
    const second = await gateway.connection(1);
    expect(second.url.searchParams.get('last_seq')).toBe('2');
    second.send(event(3), event(4));
    await expect.poll(() => seqs()).toEqual([1, 2, 3, 4]);
    expect(seen.errors.map((e) => e.code)).toEqual(['SEQ_GAP']);
  });

  it('starts from a given resume point', async () => {
    track(watch(gateway, { resumeFrom: { lastSeq: 17, epoch: EPOCH } }));
    const conn = await gateway.connection(0);
    expect(conn.url.search).toBe(`?last_seq=17&epoch=${EPOCH}`);
  });

  it('pings as keepalive and replaces a connection that went silent', async () => {
    // An interval long enough that a busy machine fires it in time: a first tick later than two
    // intervals after the last frame would (rightly) replace the connection before any ping.
    const { seen, seqs } = track(watch(gateway, { keepaliveMs: 250 }));
    const first = await gateway.connection(0);
    first.send(snapshot(0), event(1));
    await expect.poll(() => first.received.length, { timeout: 3000 }).toBeGreaterThanOrEqual(1);
    expect(first.received[0]).toBe('ping');
    // The server never answers: after two intervals of silence the client moves on.
    const second = await gateway.connection(1);
    expect(second.url.searchParams.get('last_seq')).toBe('1');
    expect(seen.errors.map((e) => e.code)).toContain('STALE_CONNECTION');
    second.send(event(2));
    await expect.poll(() => seqs()).toEqual([1, 2]);
  });

  it('close() is idempotent: one promise, one "closed", no reconnect afterwards', async () => {
    const { stream, seen } = track(watch(gateway));
    const conn = await gateway.connection(0);
    conn.send(snapshot(0));
    await expect.poll(() => stream.status).toBe('open');
    const a = stream.close();
    const b = stream.close();
    expect(a).toBe(b);
    await a;
    await stream.close();
    await sleep(100);
    expect(seen.statuses.filter((s) => s.status === 'closed')).toHaveLength(1);
    expect(gateway.connections).toHaveLength(1);
    expect(await stream.finished()).toBeNull();
  });

  it('close() during the backoff wait cancels the reconnect', async () => {
    const { stream } = track(watch(gateway, { backoff: { baseMs: 200, maxMs: 200 }, random: () => 0.99 }));
    (await gateway.connection(0)).socket.close(1001);
    await expect.poll(() => stream.status).toBe('reconnecting');
    await stream.close();
    await sleep(300);
    expect(gateway.connections).toHaveLength(1);
  });

  it('stops with an error, not a crash, when no WebSocket can be opened at all', async () => {
    class Refusing {
      constructor() {
        throw new Error('SecurityError: insecure WebSocket from a secure page');
      }
    }
    const { stream, seen } = track(watch(gateway, { WebSocket: Refusing as unknown as JobStreamOptions['WebSocket'] }));
    expect(await stream.finished()).toBeNull();
    expect(seen.errors.map((e) => [e.code, e.message])).toEqual([['REFUSED', 'could not open a WebSocket: SecurityError: insecure WebSocket from a secure page']]);
  });

  it('ends a finished job on the terminal event that follows its snapshot, at the same seq, and closes itself', async () => {
    const { stream, seen } = track(watch(gateway));
    const completed = event(12, { event_type: 'job_completed', status: 'completed', progress: 100 });
    (await gateway.connection(0)).send(snapshot(12, {}, { status: 'completed', progress: 100 }), completed);
    expect(await stream.finished()).toEqual(completed);
    expect(seen.events.map((e) => e.seq)).toEqual([12]);
    expect(stream.duplicatesDropped).toBe(0);
    expect(stream.status).toBe('closed');
  });

  it('ends on the snapshot of a finished job when the connection closes before its terminal event', async () => {
    const { stream } = track(watch(gateway));
    const connection = await gateway.connection(0);
    connection.send(snapshot(12, {}, { status: 'failed', progress: 40 }));
    connection.socket.close(1000);
    expect(await stream.finished()).toMatchObject({ seq: 12, status: 'failed', metadata: { snapshot: true } });
  });
});

describe('reconnect backoff', () => {
  it('draws each delay uniformly from [0, min(max, base·2^attempt))', () => {
    const options = { baseMs: 100, maxMs: 3000 };
    const ceilings = [100, 200, 400, 800, 1600, 3000, 3000, 3000];
    ceilings.forEach((ceiling, attempt) => {
      expect(backoffDelay(attempt, options, () => 0)).toBe(0);
      expect(backoffDelay(attempt, options, () => 0.999999)).toBe(ceiling - 1);
      expect(backoffDelay(attempt, options, () => 0.5)).toBe(ceiling / 2);
    });
    expect(backoffDelay(10_000, options, () => 0.5)).toBe(1500);
  });

  it('spreads clients: with Math.random the delays of one attempt vary and stay within bounds', () => {
    const delays = Array.from({ length: 1000 }, () => backoffDelay(3, { baseMs: 100, maxMs: 3000 }));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThan(800);
    expect(new Set(delays).size).toBeGreaterThan(300);
  });

  it('a stream that cannot connect waits longer each time, within bounds, and gives up after maxRetries', async () => {
    const gateway = await FakeGateway.start();
    const url = gateway.url;
    await gateway.close(); // nothing listens there any more: every attempt is refused
    const stream = new JobStream({ baseUrl: url, jobId: JOB, WebSocket, backoff: { baseMs: 8, maxMs: 50 }, maxRetries: 6, random: () => 0.999, keepaliveMs: 0 });
    const waits: number[] = [];
    const errors: string[] = [];
    stream.on('status', (status, detail) => status === 'reconnecting' && waits.push(detail.delayMs!));
    stream.on('error', (e) => errors.push(e.code));
    expect(await stream.start().finished()).toBeNull();
    expect(waits).toEqual([7, 15, 31, 49, 49, 49]);
    expect(errors).toEqual(['GAVE_UP']);
  });

  it('with firstConnectRetries, a first connection that never opens gives up early with UNREACHABLE', async () => {
    const gateway = await FakeGateway.start();
    const url = gateway.url;
    await gateway.close();
    const stream = new JobStream({ baseUrl: url, jobId: JOB, WebSocket, backoff: { baseMs: 8, maxMs: 50 }, maxRetries: 6, firstConnectRetries: 2, keepaliveMs: 0 });
    const waits: number[] = [];
    const errors: string[] = [];
    stream.on('status', (status, detail) => status === 'reconnecting' && waits.push(detail.delayMs!));
    stream.on('error', (e) => errors.push(e.code));
    expect(await stream.start().finished()).toBeNull();
    expect(waits).toHaveLength(2);
    expect(errors).toEqual(['UNREACHABLE']);
  });

  it('with firstConnectRetries, a connection that was up before keeps the patient reconnects', async () => {
    const gateway = await FakeGateway.start();
    const stream = new JobStream({ baseUrl: gateway.url, jobId: JOB, WebSocket, backoff: { baseMs: 8, maxMs: 20 }, maxRetries: 5, firstConnectRetries: 1, keepaliveMs: 0 });
    const errors: string[] = [];
    let reconnects = 0;
    stream.on('status', (status) => status === 'reconnecting' && reconnects++);
    stream.on('error', (e) => errors.push(e.code));
    stream.start();
    (await gateway.connection(0)).send(snapshot(3));
    await expect.poll(() => stream.lastSeq).toBe(3);
    await gateway.close(); // the gateway goes away for good
    expect(await stream.finished()).toBeNull();
    expect(reconnects).toBe(5);
    expect(errors).toEqual(['GAVE_UP']);
  });
});

describe('streamUrl', () => {
  it('maps http(s) to ws(s), keeps a path prefix and adds the resume point', () => {
    expect(streamUrl('http://localhost:8000', 5, null)).toBe('ws://localhost:8000/ws/scraping/5');
    expect(streamUrl('https://scout.example/live/', 5, { lastSeq: 9, epoch: null })).toBe('wss://scout.example/live/ws/scraping/5?last_seq=9');
    expect(streamUrl('ws://h:1', 5, { lastSeq: 0, epoch: '123' })).toBe('ws://h:1/ws/scraping/5?last_seq=0&epoch=123');
    expect(() => streamUrl('ftp://h', 5, null)).toThrow(/http\(s\)/);
  });
});
