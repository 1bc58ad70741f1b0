import { CLOSE_CODES } from '../../shared/protocol.js';
import type { WebSocket } from '../uws.js';
import { PLAIN_JSON, type DeliverySpec } from './delivery-spec.js';
import type { ChannelSocket } from './job-channels.js';
import type { ResumePoint } from './serve-join.js';
import { DrainSignal } from './drain-signal.js';
import type { MessageBudget } from '../limits/message-budget.js';

/** What every socket of the endpoint shares: kept once, not per socket. */
export interface JobSocketSettings {
  /** sendPaced waits for drain above this many buffered bytes. */
  pacingBytes: number;
  /** Compress frames for sockets that negotiated permessage-deflate (WS_COMPRESSION not off). */
  compress?: boolean;
  onSlowConsumer(): void;
}

/** The uWS user data of a socket (uWS copies its own properties onto the socket object). */
export interface JobSocketData {
  socket: JobSocket;
  /** Set when the credentials do not open this job: the socket gets exactly the unknown-job answer. */
  deniedAsNotFound?: true;
  /** Who is charged for the bytes a resume replays (replay budget); set on resume sockets only. */
  replayHolder?: string;
}

/**
 * One client of WS /ws/scraping/{job_id}: the channel layer's handle on its socket, with its
 * methods on the prototype — at tens of thousands of sockets per process, per-socket closures
 * would cost more than the socket itself.
 */
export class JobSocket implements ChannelSocket, MessageBudget {
  /** A number per gateway process, for logs. */
  readonly connNo: number;
  readonly jobId: number;
  readonly resume: ResumePoint | null;
  /** The seed's plain JSON, or the ?event_types= / ?progress_interval_ms= it asked for. */
  readonly spec: DeliverySpec;
  closed: boolean;
  ws: WebSocket<JobSocketData> | null;
  private readonly settings: JobSocketSettings;
  /** Made when a paced send first waits for a drain. */
  private drain: DrainSignal | null;
  /** The client's address as counted by the connection limit (interned: one string per address). */
  readonly ip: string | null;
  /** Flood control (gateway/limits/message-budget.ts): the socket's bucket of client messages. */
  messageMillis: number;
  messageFilledAt: number;

  // Every field assigned here, in one place: V8 then keeps them all in the object itself instead
  // of an extra property store (40 bytes a socket at the last count).
  constructor(connNo: number, jobId: number, resume: ResumePoint | null, settings: JobSocketSettings, ip: string | null = null, spec: DeliverySpec = PLAIN_JSON) {
    this.connNo = connNo;
    this.jobId = jobId;
    this.resume = resume;
    this.spec = spec;
    this.closed = false;
    this.ws = null;
    this.settings = settings;
    this.drain = null;
    this.ip = ip;
    this.messageMillis = 0;
    this.messageFilledAt = 0;
  }

  send(frames: readonly (string | Buffer)[]): void {
    const ws = this.ws;
    if (this.closed || !ws || frames.length === 0) return;
    ws.cork(() => {
      for (const frame of frames) {
        // 2 = dropped: the socket is past its backpressure limit.
        if (ws.send(frame, false, this.settings.compress) === 2) {
          this.settings.onSlowConsumer();
          this.close(CLOSE_CODES.SLOW_CONSUMER, 'slow consumer: resume from your last seq');
          return;
        }
      }
    });
  }

  async sendPaced(frames: readonly (string | Buffer)[]): Promise<void> {
    const limit = this.settings.pacingBytes;
    let next = 0;
    while (next < frames.length && !this.closed && this.ws) {
      const ws = this.ws;
      if (ws.getBufferedAmount() > limit) {
        await (this.drain ??= new DrainSignal()).wait();
        continue;
      }
      let dropped = false;
      ws.cork(() => {
        while (next < frames.length) {
          // 1 sent, 0 sent with backpressure building (wait for drain), 2 dropped at the limit.
          // Uncompressed: a catch-up is per socket, and deflating it would cost CPU per client in a
          // resume storm; live frames (one publish for all) are the ones worth compressing.
          const status = ws.send(frames[next]!, false, false);
          if (status === 2) {
            dropped = true;
            return;
          }
          next += 1;
          if (status === 0 || ws.getBufferedAmount() > limit) return;
        }
      });
      if (dropped) {
        // Never a silent gap: the client is told to resume from the last seq it holds.
        this.settings.onSlowConsumer();
        this.close(CLOSE_CODES.SLOW_CONSUMER, 'slow consumer: resume from your last seq');
      }
    }
  }

  joinTopic(topic: string): void {
    if (!this.closed) this.ws?.subscribe(topic);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.drain?.wake();
    this.ws?.end(code, reason);
  }

  /** uWS drain event: the send buffer emptied. */
  drained(): void {
    this.drain?.wake();
  }

  /** uWS close event: the socket is gone, stop using it. */
  markClosed(): void {
    this.closed = true;
    this.ws = null;
    this.drain?.wake();
  }
}
