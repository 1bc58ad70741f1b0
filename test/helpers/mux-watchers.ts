import { unpack } from 'msgpackr';
import WebSocket from 'ws';
import { ScoutClient, type MuxWebSocketConstructor, type SubscribeOptions } from '../../shared/client/scout-client.js';

/** A ScoutClient (the SDK's multiplexing client) recording, per job, the seqs it delivers. */
export class MuxWatcher {
  readonly client: ScoutClient;
  readonly seqs = new Map<number, number[]>();
  readonly types = new Map<number, string[]>();
  readonly ended = new Set<number>();
  /** Jobs whose first snapshot (or, resuming, first history) arrived. */
  readonly started = new Set<number>();
  readonly errors: string[] = [];
  readonly sockets: WebSocket[] = [];

  constructor(baseUrl: string, options: { msgpack?: boolean } = {}) {
    const sockets = this.sockets;
    class TrackedWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        sockets.push(this);
      }
    }
    this.client = new ScoutClient({
      baseUrl,
      WebSocket: TrackedWebSocket as unknown as MuxWebSocketConstructor,
      backoff: { baseMs: 50, maxMs: 500 },
      keepaliveMs: 0,
      sseFallbackAfter: Number.POSITIVE_INFINITY,
      ...(options.msgpack ? { msgpack: { unpack: (data: Uint8Array) => unpack(data) as unknown } } : {}),
    });
  }

  watch(jobId: number, options: SubscribeOptions = {}): void {
    const seqs: number[] = [];
    const types: string[] = [];
    this.seqs.set(jobId, seqs);
    this.types.set(jobId, types);
    const subscription = this.client.subscribe(jobId, options);
    subscription.on('snapshot', () => this.started.add(jobId));
    subscription.on('event', (e) => {
      this.started.add(jobId);
      seqs.push(e.seq);
      types.push(e.event_type);
    });
    subscription.on('end', () => this.ended.add(jobId));
    subscription.on('error', (e) => this.errors.push(`${jobId} ${e.code}: ${e.message}`));
  }

  get openSocket(): WebSocket | undefined {
    return this.sockets.findLast((s) => s.readyState === WebSocket.OPEN);
  }
}
