import { unpack } from 'msgpackr';
import WebSocket from 'ws';
import type { EventType } from '../../shared/events.js';
import { scrapingEventSchema, type ScrapingEvent } from '../../shared/events.js';

/** A control message of WS /ws (subscribed, error, resync, unsubscribed, pong). */
export type Control = { type: string; job_id?: number | null; [key: string]: unknown };

/**
 * A test client of WS /ws: decodes every frame (JSON text or MessagePack binary), validates events
 * with the shared schema, and keeps events and control messages per job.
 */
export class MuxTestClient {
  readonly events: ScrapingEvent[] = [];
  readonly controls: Control[] = [];
  readonly frameKinds = { text: 0, binary: 0 };
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** The upgrade response's headers (Sec-WebSocket-Extensions, Sec-WebSocket-Protocol). */
  headers: Record<string, string | string[] | undefined> = {};
  readonly ws: WebSocket;
  /** An upgrade answered with an HTTP error instead of 101: its status, Retry-After and error code. */
  refusal: { status: number; retryAfter: string | null; code: string | null; message: string | null } | null = null;

  constructor(url: string, options: { protocols?: string[]; perMessageDeflate?: boolean; headers?: Record<string, string> } = {}) {
    this.ws = new WebSocket(url, options.protocols ?? [], { perMessageDeflate: options.perMessageDeflate ?? false, headers: options.headers ?? {} });
    this.ws.once('upgrade', (res) => (this.headers = res.headers));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      // A refused upgrade: keep what the gateway answered (status, Retry-After, JSON error), then give up.
      this.ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.once('end', () => {
          let error: { code?: string; message?: string } | undefined;
          try {
            error = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error;
          } catch {
            error = undefined;
          }
          const retryAfter = res.headers['retry-after'];
          this.refusal = { status: res.statusCode ?? 0, retryAfter: typeof retryAfter === 'string' ? retryAfter : null, code: error?.code ?? null, message: error?.message ?? null };
          reject(new Error(`upgrade refused: HTTP ${res.statusCode}`));
          req.destroy();
          this.ws.terminate();
        });
      });
    });
    this.ws.on('error', () => undefined); // reported through opened; a refused upgrade ends with a second one
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.ws.on('message', (data: Buffer, isBinary) => {
      isBinary ? this.frameKinds.binary++ : this.frameKinds.text++;
      const value = (isBinary ? unpack(data) : JSON.parse(data.toString())) as Record<string, unknown>;
      if ('type' in value) this.controls.push(value as Control);
      else this.events.push(scrapingEventSchema.parse(value));
    });
  }

  subscribe(jobId: number, extra: { last_seq?: number; epoch?: string | null; event_types?: EventType[]; progress_interval_ms?: number } = {}): void {
    this.ws.send(JSON.stringify({ type: 'subscribe', job_id: jobId, ...extra }));
  }

  unsubscribe(jobId: number): void {
    this.ws.send(JSON.stringify({ type: 'unsubscribe', job_id: jobId }));
  }

  eventsOf(jobId: number): ScrapingEvent[] {
    return this.events.filter((e) => e.job_id === jobId);
  }

  controlsOf(jobId: number | null): Control[] {
    return this.controls.filter((c) => c.job_id === jobId);
  }

  async waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) {
        throw new Error(`${what} not within ${timeoutMs} ms; controls ${JSON.stringify(this.controls).slice(0, 500)}; events ${this.events.map((e) => `${e.job_id}:${e.seq}`).join(',')}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.ws.close();
  }
}
