import { pino } from 'pino';
import type { EventSubscriber } from '../../gateway/ws/event-subscriber.js';
import { JobChannels, type ChannelSocket } from '../../gateway/ws/job-channels.js';
import type { JobEventLog, JobLiveState, JobRead } from '../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../shared/redis/keys.js';

/*
 * In-memory doubles of what JobChannels talks to — the subscriber connection, the event log and
 * the clients' sockets — so that the fan-out's state machine can be driven step by step.
 */

/** An event as the emit script serializes it (the fan-out reads job_id, seq and epoch from the bytes). */
export function payload(jobId: number, seq: number, epoch = 'E1'): Buffer {
  return Buffer.from(`{"job_id":${jobId},"seq":${seq},"event_type":"job_progress","status":"running","progress":null,"results_count":0,"message":null,"metadata":{"epoch":"${epoch}"},"timestamp":"2026-01-01T00:00:00.000Z"}`);
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run, including reads (each takes one turn of the event loop). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export class FakeSubscriber implements EventSubscriber {
  connected = true;
  state = 'ready';
  readonly subscribeCalls: string[][] = [];
  readonly unsubscribeCalls: string[][] = [];
  /** Set to make the next subscribe (or unsubscribe) fail, or wait for the test. */
  nextSubscribe: Promise<unknown> | null = null;
  nextUnsubscribe: Promise<unknown> | null = null;
  private messageListeners: ((payload: Buffer) => void)[] = [];
  private disconnectListeners: (() => void)[] = [];
  private reconnectListeners: (() => void)[] = [];

  subscribe(...channels: string[]): Promise<unknown> {
    this.subscribeCalls.push(channels);
    const next = this.nextSubscribe;
    this.nextSubscribe = null;
    return next ?? Promise.resolve(channels.length);
  }
  unsubscribe(...channels: string[]): Promise<unknown> {
    this.unsubscribeCalls.push(channels);
    const next = this.nextUnsubscribe;
    this.nextUnsubscribe = null;
    return next ?? Promise.resolve(0);
  }
  onMessage(listener: (payload: Buffer) => void): void {
    this.messageListeners.push(listener);
  }
  onDisconnect(listener: () => void): void {
    this.disconnectListeners.push(listener);
  }
  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }
  get listenerCounts(): [number, number, number] {
    return [this.messageListeners.length, this.disconnectListeners.length, this.reconnectListeners.length];
  }

  /** A message on the connection, as Redis delivers it. */
  message(payload: Buffer): void {
    for (const listener of this.messageListeners) listener(payload);
  }
  drop(): void {
    this.connected = false;
    for (const listener of this.disconnectListeners) listener();
  }
  reconnect(): void {
    this.connected = true;
    for (const listener of this.reconnectListeners) listener();
  }
}

/** A job's stream as the event log keeps it: state seq/epoch and a capped history, read like read-job-2.lua. */
export class FakeEventLog {
  readonly streams = new Map<number, { seq: number; epoch: string; history: Buffer[] }>();
  readonly reads: { jobId: number; afterSeq: number | undefined }[] = [];
  /** When set, the next read waits on it (or fails with it) instead of answering at once. */
  nextRead: Promise<unknown> | null = null;
  /** When set, every read fails with it (Redis unreadable for good). */
  failReads: Error | null = null;

  constructor(private readonly maxEvents = 1000) {}

  /** Appends the next event of a job's stream and returns it (not published: the test decides). */
  append(jobId: number, epoch = 'E1'): Buffer {
    let stream = this.streams.get(jobId);
    if (!stream || stream.epoch !== epoch) {
      stream = { seq: stream?.epoch === epoch ? stream.seq : 0, epoch, history: [] };
      this.streams.set(jobId, stream);
    }
    stream.seq += 1;
    const event = payload(jobId, stream.seq, epoch);
    stream.history.push(event);
    if (stream.history.length > this.maxEvents) stream.history.shift();
    return event;
  }

  async read(jobId: number, afterSeq?: number): Promise<JobRead> {
    this.reads.push({ jobId, afterSeq });
    // A read takes a turn of the event loop, as a Redis round trip does: a fan-out that re-reads
    // forever then shows as a failing test, not as a test run that never ends.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const gate = this.nextRead;
    this.nextRead = null;
    if (gate) await gate;
    if (this.failReads) throw this.failReads;
    const stream = this.streams.get(jobId);
    if (!stream) return { state: null, history: null };
    const state: JobLiveState = {
      job_id: jobId,
      seq: stream.seq,
      epoch: stream.epoch,
      status: 'running',
      results_count: 0,
      event_type: 'job_progress',
      updated_at: '2026-01-01T00:00:00.000Z',
    };
    if (afterSeq === undefined || afterSeq < 0) return { state, history: null };
    const missing = stream.seq - afterSeq;
    if (missing <= 0) return { state, history: [] };
    if (missing > stream.history.length) return { state, history: 'gap' };
    return { state, history: stream.history.slice(-missing).map((b) => b.toString()) };
  }
}

/** A client socket: records the frames it is sent (directly or through its topic) and how it closed. */
export class FakeSocket implements ChannelSocket {
  closed = false;
  readonly frames: (string | Buffer)[] = [];
  readonly topics: string[] = [];
  close_: { code: number; reason: string } | null = null;
  readonly pacedSends: number[] = [];
  /** Runs inside sendPaced, after the frames were taken: lets a test publish during a long catch-up. */
  duringPaced: (() => void | Promise<void>) | null = null;

  constructor(
    readonly name: string,
    private readonly world: FanOutWorld,
  ) {}

  send(frames: readonly (string | Buffer)[]): void {
    if (this.closed) return;
    this.frames.push(...frames);
  }
  async sendPaced(frames: readonly (string | Buffer)[]): Promise<void> {
    this.pacedSends.push(frames.length);
    this.send(frames);
    const during = this.duringPaced;
    if (during) await during();
  }
  joinTopic(topic: string): void {
    if (this.closed) throw new Error(`${this.name}: joinTopic on a closed socket`);
    if (this.topics.includes(topic)) throw new Error(`${this.name}: joined ${topic} twice`);
    this.topics.push(topic);
  }
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.close_ = { code, reason };
    // As uWS does: the close handler detaches the socket.
    this.world.afterClose(this);
  }

  /** Seqs of the event frames received, in order (frames that are not events count as -1). */
  get seqs(): number[] {
    return this.frames.map((f) => {
      const m = /"seq":(\d+)/.exec(f.toString());
      return m ? Number(m[1]) : -1;
    });
  }
}

/** JobChannels wired to the doubles; `publish` delivers to every socket on the topic, as uWS does. */
export class FanOutWorld {
  readonly subscriber = new FakeSubscriber();
  readonly eventLog: FakeEventLog;
  readonly keys = new RedisKeys('t:');
  readonly published: { topic: string; seq: number }[] = [];
  readonly channels: JobChannels;
  private readonly sockets: { socket: FakeSocket; jobId: number }[] = [];

  constructor(options: { maxEvents?: number } = {}) {
    this.eventLog = new FakeEventLog(options.maxEvents);
    this.channels = new JobChannels(
      this.subscriber,
      this.keys,
      this.eventLog as unknown as JobEventLog,
      (topic, payload) => {
        this.published.push({ topic, seq: Number(/"seq":(\d+)/.exec(payload.toString())![1]) });
        for (const { socket } of this.sockets) if (!socket.closed && socket.topics.includes(topic)) socket.frames.push(payload);
      },
      pino({ level: 'silent' }),
    );
    this.channels.start();
  }

  socket(jobId: number, name = `socket ${this.sockets.length}`): FakeSocket {
    const socket = new FakeSocket(name, this);
    this.sockets.push({ socket, jobId });
    return socket;
  }

  afterClose(socket: FakeSocket): void {
    const entry = this.sockets.find((s) => s.socket === socket);
    if (entry) this.channels.detach(entry.jobId, socket);
  }

  /** Appends the job's next event to the log and publishes it on the subscriber connection. */
  emit(jobId: number, epoch = 'E1'): Buffer {
    const event = this.eventLog.append(jobId, epoch);
    this.subscriber.message(event);
    return event;
  }
}
