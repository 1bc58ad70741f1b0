import WebSocket from 'ws';
import { JobStream } from '../../shared/client/job-stream.js';
import type { WebSocketConstructor } from '../../shared/client/websocket-like.js';
import type { ScrapingEvent } from '../../shared/events.js';

/** A JobStream (the project's client SDK) that records what it delivers and how it got there. */
export class Watcher {
  readonly stream: JobStream;
  /** Seqs of the job events delivered, in delivery order (snapshots not included). */
  readonly seqs: number[] = [];
  readonly snapshots: ScrapingEvent[] = [];
  readonly closeCodes: number[] = [];
  readonly errors: string[] = [];
  /** The sockets it opened, so a test can cut them. */
  readonly sockets: WebSocket[] = [];

  constructor(baseUrl: string, jobId: number) {
    const sockets = this.sockets;
    class TrackedWebSocket extends WebSocket {
      constructor(url: string) {
        super(url);
        sockets.push(this);
      }
    }
    this.stream = new JobStream({
      baseUrl,
      jobId,
      WebSocket: TrackedWebSocket as unknown as WebSocketConstructor,
      backoff: { baseMs: 50, maxMs: 1000 },
      keepaliveMs: 0,
    });
    this.stream.on('event', (e) => this.seqs.push(e.seq));
    this.stream.on('snapshot', (s) => this.snapshots.push(s));
    this.stream.on('status', (_status, detail) => {
      if (detail.code !== undefined) this.closeCodes.push(detail.code);
    });
    this.stream.on('error', (e) => this.errors.push(`${e.code}: ${e.message}`));
    this.stream.start();
  }

  /** The socket currently open, if any. */
  get openSocket(): WebSocket | undefined {
    return this.sockets.findLast((s) => s.readyState === WebSocket.OPEN);
  }
}
