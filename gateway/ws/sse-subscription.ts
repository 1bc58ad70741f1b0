import { CLOSE_CODES } from '../../shared/protocol.js';
import { statusLine } from '../http/responses.js';
import type { HttpResponse } from '../uws.js';
import { encodeMessage, type DeliverySpec, type Frame } from './delivery-spec.js';
import type { ChannelSocket } from './job-channels.js';
import { DrainSignal } from './drain-signal.js';
import type { AddressSlot } from './address-admission.js';

export interface SseSettings {
  /** Bytes written since the response last drained past which the reader is cut (WS_MAX_BACKPRESSURE_BYTES). */
  maxBackpressureBytes: number;
  /** EventSource's reconnect delay, sent once (`retry:`). */
  retryMs: number;
  onSlowConsumer(): void;
  detach(jobId: number, subscription: SseSubscription): void;
}

/** The HTTP status of a refusal, so that a browser's EventSource stops instead of retrying. */
function statusOf(code: number): number {
  if (code === CLOSE_CODES.NOT_FOUND) return 404;
  if (code === CLOSE_CODES.BAD_REQUEST) return 400;
  if (code === CLOSE_CODES.FORBIDDEN) return 401;
  return 503;
}

/**
 * One GET /sse/scraping/{id} response: the fan-out's handle on it. Headers wait for the first
 * frame, so that a refused join is still an HTTP error (EventSource does not retry those). A
 * resync or an unavailable stream ends the response: the browser reconnects with Last-Event-ID.
 */
export class SseSubscription implements ChannelSocket {
  closed = false;
  private headersSent = false;
  /** Bytes written since uWS last reported backpressure gone; null while it flows. */
  private backlog: number | null = null;
  /** Made when a paced send first waits for a drain. */
  private drain: DrainSignal | null = null;
  /** The address's connection slot once the limits admitted the request; released when the response ends. */
  slot: AddressSlot | null = null;

  constructor(
    readonly res: HttpResponse,
    readonly jobId: number,
    readonly spec: DeliverySpec,
    private readonly settings: SseSettings,
  ) {}

  /** The client went away (uWS onAborted): the response must not be touched again. */
  aborted(): void {
    if (this.closed) return;
    this.closed = true;
    this.drain?.wake();
    this.settings.detach(this.jobId, this);
  }

  send(frames: readonly Frame[]): void {
    if (this.closed || frames.length === 0) return;
    this.res.cork(() => {
      this.writeHeaders();
      for (const frame of frames) if (!this.write(frame)) return;
    });
  }

  async sendPaced(frames: readonly Frame[]): Promise<void> {
    let next = 0;
    while (next < frames.length && !this.closed) {
      if (this.backlog !== null) {
        await (this.drain ??= new DrainSignal()).wait();
        continue;
      }
      this.res.cork(() => {
        this.writeHeaders();
        while (next < frames.length && this.backlog === null) if (!this.write(frames[next++]!)) return;
      });
    }
  }

  /** A comment line: keeps proxies from closing an idle response. */
  heartbeat(): void {
    if (this.closed || !this.headersSent) return;
    this.res.cork(() => void this.write(': heartbeat\n\n'));
  }

  refuse(_frames: readonly Frame[], code: number, reason: string): void {
    if (this.closed) return;
    if (this.headersSent) {
      this.endWith({ type: 'error', job_id: this.jobId, code, message: reason });
      return;
    }
    this.closed = true;
    const status = statusOf(code);
    const errorCode = { 404: 'JOB_NOT_FOUND', 400: 'BAD_RESUME_POINT', 401: 'UNAUTHORIZED' }[status as 404 | 400 | 401] ?? 'UNAVAILABLE';
    const body = JSON.stringify({ error: { code: errorCode, message: reason } });
    this.res.cork(() => {
      this.res.writeStatus(statusLine(status)).writeHeader('Content-Type', 'application/json').end(body);
    });
    this.settings.detach(this.jobId, this);
  }

  /** Refuses before anything was sent: an HTTP error, which EventSource does not retry. */
  refuseHttp(status: number, errorCode: string, message: string, headers: Record<string, string> = {}): void {
    if (this.closed || this.headersSent) return;
    this.closed = true;
    const body = JSON.stringify({ error: { code: errorCode, message } });
    this.res.cork(() => {
      this.res.writeStatus(statusLine(status)).writeHeader('Content-Type', 'application/json');
      for (const [name, value] of Object.entries(headers)) this.res.writeHeader(name, value);
      this.res.end(body);
    });
    this.settings.detach(this.jobId, this);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.endWith({ type: 'resync', job_id: this.jobId, code, message: reason });
  }

  /** Drained (uWS onWritable). */
  writable(): boolean {
    this.backlog = null;
    this.drain?.wake();
    return true;
  }

  private endWith(message: object): void {
    this.closed = true;
    this.drain?.wake();
    this.res.cork(() => {
      this.writeHeaders();
      this.res.end(encodeMessage('sse', message) as string);
    });
    this.settings.detach(this.jobId, this);
  }

  private writeHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.res
      .writeStatus('200 OK')
      .writeHeader('Content-Type', 'text/event-stream')
      .writeHeader('Cache-Control', 'no-cache')
      .writeHeader('X-Accel-Buffering', 'no');
    this.res.write(`retry: ${this.settings.retryMs}\n\n`);
  }

  /** Writes one frame; false when the reader fell past the limit and was cut. */
  private write(frame: Frame): boolean {
    const flowing = this.res.write(frame);
    if (this.backlog !== null || !flowing) {
      this.backlog = (this.backlog ?? 0) + frame.length;
      if (this.backlog > this.settings.maxBackpressureBytes) {
        // Never a silent gap: the response ends; the browser resumes from its Last-Event-ID.
        this.settings.onSlowConsumer();
        this.closed = true;
        this.drain?.wake();
        this.res.close();
        this.settings.detach(this.jobId, this);
        return false;
      }
    }
    return true;
  }
}
