import { unpack } from 'msgpackr';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deliverySpec, eventTypeOfPayload, groupKeyOf, PLAIN_JSON, type DeliverySpec, type Frame } from '../../gateway/ws/delivery-spec.js';
import type { InitialServe } from '../../gateway/ws/job-channels.js';
import { FanOutWorld, settle, type FakeSocket } from '../helpers/fan-out-fakes.js';

/*
 * Delivery groups of JobChannels: subscribers of a job grouped by (format, filter, interval), each
 * event encoded once per group, filtered and throttled per group, whatever the transport.
 */

const JOB = 7;

function event(seq: number, type = 'job_progress', jobId = JOB): Buffer {
  return Buffer.from(`{"job_id":${jobId},"seq":${seq},"event_type":"${type}","status":"running","progress":1,"results_count":0,"message":null,"metadata":{"epoch":"E1"},"timestamp":"2026-01-01T00:00:00.000Z"}`);
}

/** A transport without topics (SSE-like): every live event is written to it directly. */
class DirectSocket {
  closed = false;
  readonly frames: Frame[] = [];
  constructor(readonly spec: DeliverySpec) {}
  send(frames: readonly Frame[]): void {
    if (!this.closed) this.frames.push(...frames);
  }
  async sendPaced(frames: readonly Frame[]): Promise<void> {
    this.send(frames);
  }
  close(): void {
    this.closed = true;
  }
  get seqs(): number[] {
    return this.frames.map((f) => (Buffer.isBuffer(f) && f[0] !== 0x7b ? (unpack(f) as { seq: number }).seq : Number(/"seq":(\d+)/.exec(f.toString())![1])));
  }
}

const snapshotAt = (seq: number) => async (): Promise<InitialServe> => ({ frames: [event(seq).toString()], servedSeq: seq, snapshot: true });

async function joined(w: FanOutWorld, socket: DirectSocket | FakeSocket, seq = 0) {
  expect(await w.channels.attach(JOB, socket as unknown as FakeSocket, snapshotAt(seq), { shareable: false })).toBe(true);
}

describe('delivery specs', () => {
  it('keys a group by format, filter (in any order) and interval; plain JSON keeps the seed topic', () => {
    expect(groupKeyOf(PLAIN_JSON)).toBe('');
    expect(deliverySpec('json', [], 0)).toBe(PLAIN_JSON);
    expect(groupKeyOf(deliverySpec('json', ['b', 'a'], 0))).toBe(groupKeyOf(deliverySpec('json', ['a', 'b'], 0)));
    expect(groupKeyOf(deliverySpec('msgpack', null, 0))).not.toBe(groupKeyOf(deliverySpec('json', null, 250)));
    expect(eventTypeOfPayload(event(3, 'scraper_failed'))).toBe('scraper_failed');
    expect(eventTypeOfPayload('{"job_id":1}')).toBe('');
  });
});

describe('JobChannels: delivery groups', () => {
  it('encodes each event once per group: MessagePack members share the very same frame, filtered members get only their types', async () => {
    const w = new FanOutWorld();
    const plain = w.socket(JOB, 'plain');
    const packedA = new DirectSocket(deliverySpec('msgpack', null, 0));
    const packedB = new DirectSocket(deliverySpec('msgpack', null, 0));
    const filtered = new DirectSocket(deliverySpec('json', ['scraper_completed'], 0));
    for (const s of [plain, packedA, packedB, filtered]) await joined(w, s);
    w.subscriber.message(event(1));
    w.subscriber.message(event(2, 'scraper_completed'));
    w.subscriber.message(event(3));
    expect(plain.seqs).toEqual([0, 1, 2, 3]);
    expect(packedA.seqs).toEqual([0, 1, 2, 3]);
    expect(packedA.frames.slice(1).every((f, i) => f === packedB.frames[i + 1])).toBe(true);
    expect(unpack(packedA.frames[2] as Buffer)).toEqual(JSON.parse(event(2, 'scraper_completed').toString()));
    expect(filtered.seqs).toEqual([0, 2]); // the snapshot passes any filter
    expect(w.published.map((p) => p.topic)).toEqual(['job:7', 'job:7', 'job:7']); // only the plain group has a topic member
  });

  // The clock of the throttle is faked: a loaded machine must not decide what arrives when.
  const fakeClock = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('throttles progress per group: the first at once, the latest of a burst after the interval, a held one before any other event', async () => {
    const w = new FanOutWorld();
    const throttled = new DirectSocket(deliverySpec('json', null, 40));
    const plain = w.socket(JOB, 'plain');
    await joined(w, throttled);
    await joined(w, plain);
    fakeClock();
    for (let seq = 1; seq <= 5; seq++) w.subscriber.message(event(seq));
    expect(throttled.seqs).toEqual([0, 1]);
    vi.advanceTimersByTime(39);
    expect(throttled.seqs).toEqual([0, 1]);
    vi.advanceTimersByTime(1);
    expect(throttled.seqs).toEqual([0, 1, 5]);
    vi.advanceTimersByTime(40);
    w.subscriber.message(event(6)); // an interval after 5: at once
    w.subscriber.message(event(7)); // held …
    w.subscriber.message(event(8, 'job_completed')); // … and released ahead of the terminal event
    expect(throttled.seqs).toEqual([0, 1, 5, 6, 7, 8]);
    expect(plain.seqs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    vi.advanceTimersByTime(100);
    expect(throttled.seqs).toEqual([0, 1, 5, 6, 7, 8]);
  });

  it('never hands a member joining a throttled group the progress held from before its snapshot', async () => {
    const w = new FanOutWorld();
    const first = new DirectSocket(deliverySpec('json', null, 30));
    await joined(w, first);
    fakeClock();
    w.subscriber.message(event(1));
    w.subscriber.message(event(2)); // held
    const late = new DirectSocket(deliverySpec('json', null, 30));
    await joined(w, late, 2);
    vi.advanceTimersByTime(30);
    expect(first.seqs).toEqual([0, 1, 2]);
    expect(late.seqs).toEqual([2]);
  });

  it('filters and coalesces a resumed history per group', async () => {
    const w = new FanOutWorld();
    const socket = new DirectSocket(deliverySpec('json', ['job_progress', 'scraper_failed'], 100));
    const history = [event(1), event(2), event(3, 'scraper_failed'), event(4, 'scraper_started'), event(5), event(6)].map(String);
    await w.channels.attach(JOB, socket as unknown as FakeSocket, async () => ({ frames: history, servedSeq: 6 }), { shareable: false });
    expect(socket.seqs).toEqual([2, 3, 6]);
  });

  it('forgets a group when its last member leaves, and its held progress with it', async () => {
    const w = new FanOutWorld();
    const a = new DirectSocket(deliverySpec('json', null, 30));
    await joined(w, a);
    fakeClock();
    w.subscriber.message(event(1));
    w.subscriber.message(event(2)); // held
    w.channels.detach(JOB, a as unknown as FakeSocket);
    expect(w.channels.activeJobs).toBe(0);
    vi.advanceTimersByTime(100);
    expect(a.seqs).toEqual([0, 1]);
  });
});

describe('JobChannels: a stream that restarts before anything was forwarded', () => {
  it('tells a joiner served from the old stream to resync instead of holding back the new one', async () => {
    const w = new FanOutWorld();
    for (let i = 0; i < 5; i++) w.eventLog.append(JOB); // seq 1..5 of epoch E1, never published live
    const socket = w.socket(JOB, 'joiner');
    const served = await w.channels.attach(JOB, socket, async () => ({ frames: [w.eventLog.streams.get(JOB)!.history.at(-1)!.toString()], servedSeq: 5 }), { shareable: false });
    expect(served).toBe(true);
    w.emit(JOB, 'E2'); // seq 1 of a new stream
    expect(socket.close_?.code).toBe(4000);
    expect(w.channels.activeJobs).toBe(0);
  });

  it('lets a joiner wait for the seq it was served when an older event of its own stream arrives late', async () => {
    const w = new FanOutWorld();
    for (let i = 0; i < 4; i++) w.eventLog.append(JOB);
    const late = w.eventLog.append(JOB); // seq 5, read by the joiner before its message arrives
    const socket = w.socket(JOB, 'joiner');
    await w.channels.attach(JOB, socket, async () => ({ frames: [late.toString()], servedSeq: 5 }), { shareable: false });
    w.subscriber.message(w.eventLog.streams.get(JOB)!.history[3]!); // seq 4, same stream
    w.subscriber.message(late);
    w.emit(JOB);
    expect(socket.close_).toBeNull();
    expect(socket.seqs).toEqual([5, 6]);
  });
});
