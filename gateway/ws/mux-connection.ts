import { CLOSE_CODES } from '../../shared/protocol.js';
import type { SubscriptionErrorCode } from '../../shared/protocol-v2.js';
import type { WebSocket } from '../uws.js';
import { encodeMessage, type DeliverySpec, type Frame } from './delivery-spec.js';
import type { ChannelSocket } from './job-channels.js';
import type { Credentials } from '../auth/credentials.js';
import { DrainSignal } from './drain-signal.js';
import type { AddressSlot } from './address-admission.js';

/** What every connection of WS /ws shares: kept once, not per connection. */
export interface MuxSettings {
  pacingBytes: number;
  compress: boolean;
  maxSubscriptions: number;
  onSlowConsumer(): void;
  /** Detaches an ended subscription from the fan-out. */
  detach(jobId: number, subscription: MuxSubscription): void;
}

export interface MuxSocketData {
  connection: MuxConnection;
}

/**
 * One WS /ws connection carrying any number of job subscriptions. Frames of all its jobs share
 * one send buffer: a connection past its backpressure limit is closed as a whole (4001), and its
 * client resumes each job from the last seq it holds.
 */
export class MuxConnection {
  closed = false;
  ws: WebSocket<MuxSocketData> | null = null;
  readonly subscriptions = new Map<number, MuxSubscription>();
  /** Made when a paced send first waits for a drain. */
  private drain: DrainSignal | null = null;

  constructor(
    readonly connNo: number,
    readonly format: 'json' | 'msgpack',
    /** What the upgrade carried; a subscribe message's own token overrides it for its job. */
    readonly credentials: Credentials,
    readonly settings: MuxSettings,
    /** The address's connection slot, held until the connection closes (null in unit tests). */
    readonly slot: AddressSlot | null = null,
  ) {}

  get binary(): boolean {
    return this.format === 'msgpack';
  }

  send(frames: readonly Frame[]): void {
    const ws = this.ws;
    if (this.closed || !ws || frames.length === 0) return;
    const { binary } = this;
    const compress = this.settings.compress;
    ws.cork(() => {
      for (const frame of frames) {
        if (ws.send(frame, binary, compress) === 2) {
          this.slowConsumer();
          return;
        }
      }
    });
  }

  /** A control message (subscribed, error, resync, pong) in the connection's format. */
  control(message: object): void {
    this.send([encodeMessage(this.format, message)]);
  }

  async sendPaced(frames: readonly Frame[], stillWanted: () => boolean): Promise<void> {
    const limit = this.settings.pacingBytes;
    const { binary } = this;
    // A catch-up goes uncompressed (per socket: deflating it costs CPU per client in a resume storm).
    const compress = false;
    let next = 0;
    while (next < frames.length && !this.closed && this.ws && stillWanted()) {
      const ws = this.ws;
      if (ws.getBufferedAmount() > limit) {
        await (this.drain ??= new DrainSignal()).wait();
        continue;
      }
      let dropped = false;
      ws.cork(() => {
        while (next < frames.length) {
          const status = ws.send(frames[next]!, binary, compress);
          if (status === 2) {
            dropped = true;
            return;
          }
          next += 1;
          if (status === 0 || ws.getBufferedAmount() > limit) return;
        }
      });
      if (dropped) this.slowConsumer();
    }
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.drain?.wake();
    this.ws?.end(code, reason);
  }

  drained(): void {
    this.drain?.wake();
  }

  /** uWS close event: ends every subscription (the fan-out forgets them). */
  markClosed(): void {
    this.closed = true;
    this.ws = null;
    this.drain?.wake();
    for (const subscription of [...this.subscriptions.values()]) subscription.end();
  }

  private slowConsumer(): void {
    this.settings.onSlowConsumer();
    this.close(CLOSE_CODES.SLOW_CONSUMER, 'slow consumer: resume each job from your last seq');
  }
}

/** The per-job error code of a close code the legacy path would have used. */
function errorCodeOf(code: number): SubscriptionErrorCode {
  if (code === CLOSE_CODES.NOT_FOUND) return 'NOT_FOUND';
  if (code === CLOSE_CODES.FORBIDDEN) return 'FORBIDDEN';
  if (code === CLOSE_CODES.BAD_REQUEST) return 'BAD_REQUEST';
  return 'UNAVAILABLE';
}

/**
 * One job on a WS /ws connection: the fan-out's handle. Where the legacy socket closes (resync,
 * unavailable, refused), this sends a per-job message and ends only itself.
 */
export class MuxSubscription implements ChannelSocket {
  private ended = false;

  constructor(
    readonly connection: MuxConnection,
    readonly jobId: number,
    readonly spec: DeliverySpec,
  ) {}

  get closed(): boolean {
    return this.ended || this.connection.closed;
  }

  send(frames: readonly Frame[]): void {
    if (!this.closed) this.connection.send(frames);
  }

  sendPaced(frames: readonly Frame[]): Promise<void> {
    return this.connection.sendPaced(frames, () => !this.ended);
  }

  joinTopic(topic: string): void {
    if (!this.closed) this.connection.ws?.subscribe(topic);
  }

  leaveTopic(topic: string): void {
    if (!this.connection.closed) this.connection.ws?.unsubscribe(topic);
  }

  opening(servedSeq: number): Frame[] {
    const { eventTypes, progressIntervalMs } = this.spec;
    return [
      encodeMessage(this.connection.format, {
        type: 'subscribed',
        job_id: this.jobId,
        event_types: eventTypes ? [...eventTypes] : null,
        progress_interval_ms: progressIntervalMs,
        seq: servedSeq,
      }),
    ];
  }

  refuse(_frames: readonly Frame[], code: number, reason: string): void {
    this.connection.control({ type: 'error', job_id: this.jobId, code: errorCodeOf(code), message: reason });
    this.end();
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.connection.control({ type: 'resync', job_id: this.jobId, code, message: reason });
    this.end();
  }

  /** Ends the subscription without a message (unsubscribe, connection gone). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.connection.subscriptions.get(this.jobId) === this) this.connection.subscriptions.delete(this.jobId);
    this.connection.settings.detach(this.jobId, this);
  }
}
