import { jobIdSchema, scrapingEventSchema, TERMINAL_EVENT_TYPES, type ScrapingEvent } from '../events.js';
import { PING_TEXT, PONG_TEXT, shouldReconnect } from '../protocol.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { JobStreamError } from './job-stream-error.js';
import { streamUrl, type ResumePoint } from './stream-url.js';
import { TypedEmitter } from './typed-emitter.js';
import { isWatchTokenExpired, tokenExpired, type TokenSource } from './watch-token.js';
import {
  READY_STATE,
  type CloseEventLike,
  type ErrorEventLike,
  type MessageEventLike,
  type WebSocketConstructor,
  type WebSocketLike,
} from './websocket-like.js';

export type StreamStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface StatusDetail {
  /** reconnecting: the attempt about to be made (1, 2, …) and the wait before it. */
  attempt?: number;
  delayMs?: number;
  /** The close code of the connection that just ended, where there was one. */
  code?: number;
  /** Why that connection ended, as far as the implementation tells (browsers say little). */
  reason?: string;
}

export interface JobStreamEvents {
  /** Every event of the job, exactly once and in seq order (plus the gateway's seq-0 notices, e.g. "Job N not found"). */
  event: (event: ScrapingEvent) => void;
  /** The job's state: on first connect, and with `resync` when the stream had to restart (refetch whatever you derived). */
  snapshot: (snapshot: ScrapingEvent, info: { resync: boolean }) => void;
  status: (status: StreamStatus, detail: StatusDetail) => void;
  /** The job ended: its job_completed / job_failed event (a gateway sends it right after the snapshot of a job that had already ended). */
  end: (event: ScrapingEvent) => void;
  error: (error: JobStreamError) => void;
}

export interface JobStreamOptions {
  /** The gateway, as http(s):// or ws(s)://, e.g. `http://localhost:8000` or `location.origin`. */
  baseUrl: string;
  jobId: number;
  /** Default: globalThis.WebSocket (browsers, Node 22+). In Node 20 pass the `ws` package's WebSocket. */
  WebSocket?: WebSocketConstructor;
  backoff?: Partial<BackoffOptions>;
  /** Sends text "ping" this often and replaces a connection that stays silent for two intervals; 0 disables. */
  keepaliveMs?: number;
  /** Reconnect attempts in a row (without a frame in between) before giving up; default: never give up. */
  maxRetries?: number;
  /**
   * Attempts after the very first connection failed to open, before giving up with UNREACHABLE
   * (a wrong URL or a gateway that is not running, said in seconds); default: unset, maxRetries
   * applies. The patient reconnects of maxRetries are for connections that were up before.
   */
  firstConnectRetries?: number;
  /** Start after a seq already held (e.g. restored from storage) instead of from a snapshot. */
  resumeFrom?: ResumePoint;
  /** Close once the job has ended (default true). */
  closeOnEnd?: boolean;
  /** The random source of the backoff jitter, replaceable in tests. */
  random?: () => number;
  /**
   * A watch token (gateways with access control on), or a function returning one (or a promise of
   * one), called before every connection — so a reconnect after the token expired can fetch a
   * fresh one (POST /api/jobs/{id}/watch-tokens). A token whose own `exp` has passed is not sent:
   * the stream stops with TOKEN_EXPIRED (a refused upgrade looks like a network failure in a
   * browser, and would otherwise be retried for ever); so does a function that throws
   * WatchTokenExpired.
   */
  token?: string | TokenSource;
}

export type { TokenSource } from './watch-token.js';

const DEFAULT_KEEPALIVE_MS = 25_000;
/** How long close() waits for the closing handshake before it lets go. */
const CLOSE_WAIT_MS = 1000;
const ENDED_STATUSES = new Set<string>(['completed', 'failed', 'cancelled']);

/**
 * Follows one job over WS /ws/scraping/{job_id}: every event exactly once, in order, across
 * reconnects. It keeps the last seq and epoch it delivered; when a connection ends with a code
 * that allows it (shouldReconnect), it reconnects with backoff and resumes with
 * `?last_seq=N&epoch=E`, so the gateway sends what was missed, or a resync snapshot when the
 * history no longer holds it. Anything at or below the last seq is dropped as a duplicate.
 *
 * No Node APIs and no dependency beyond the shared schema: the gateway serves this very module,
 * bundled, to the dashboard page.
 */
export class JobStream extends TypedEmitter<JobStreamEvents> {
  private readonly WS: WebSocketConstructor;
  private readonly backoff: BackoffOptions;
  private readonly random: () => number;
  private socket: WebSocketLike | null = null;
  private state: StreamStatus | 'idle' = 'idle';
  private seq: number | null;
  private currentEpoch: string | null;
  private failedAttempts = 0;
  private everOpened = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private keepaliveTimer: ReturnType<typeof setInterval> | undefined;
  private lastFrameAt = 0;
  private lastSocketError: string | undefined;
  private endEvent: ScrapingEvent | null = null;
  /** The snapshot of an ended job, until the terminal event that follows it arrives. */
  private endedSnapshot: ScrapingEvent | null = null;
  private closing: Promise<void> | null = null;
  private duplicates = 0;
  private readonly settled: Promise<ScrapingEvent | null>;
  private settle!: (end: ScrapingEvent | null) => void;

  constructor(private readonly options: JobStreamOptions) {
    super();
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new TypeError('no WebSocket implementation here: pass options.WebSocket (in Node 20, the `ws` package)');
    if (!jobIdSchema.safeParse(options.jobId).success) throw new TypeError(`job id must be a positive integer, got ${options.jobId}`);
    streamUrl(options.baseUrl, options.jobId, null); // a bad URL fails here, not on the first reconnect
    this.WS = WS;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.random = options.random ?? Math.random;
    this.seq = options.resumeFrom?.lastSeq ?? null;
    this.currentEpoch = options.resumeFrom?.epoch ?? null;
    this.settled = new Promise((resolve) => (this.settle = resolve));
  }

  get status(): StreamStatus | 'idle' {
    return this.state;
  }

  /** The seq of the last event delivered (or of the snapshot that stands for them); null before any. */
  get lastSeq(): number | null {
    return this.seq;
  }

  get epoch(): string | null {
    return this.currentEpoch;
  }

  /** Events received again after a reconnect and dropped. */
  get duplicatesDropped(): number {
    return this.duplicates;
  }

  /** Opens the first connection; call after registering listeners. Calling it again does nothing. */
  start(): this {
    if (this.state === 'idle') {
      this.setStatus('connecting', {});
      this.connect();
    }
    return this;
  }

  /** Resolves once the stream is closed: with the job's end event, or null if it closed before the job ended. */
  finished(): Promise<ScrapingEvent | null> {
    return this.settled;
  }

  /** Stops for good: no more events, no reconnect. Safe to call any number of times. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.stopTimers();
    const socket = this.socket;
    this.socket = null;
    this.closing = socket ? closeSocket(socket) : Promise.resolve();
    this.setStatus('closed', {});
    return this.closing;
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    const source = this.options.token;
    if (typeof source !== 'function') {
      this.open(source ?? null);
      return;
    }
    let token: string | null | Promise<string | null>;
    try {
      token = source();
    } catch (error) {
      this.tokenFailed(error);
      return;
    }
    if (typeof token === 'string' || token === null) {
      this.open(token);
      return;
    }
    token.then(
      (value) => {
        if (!this.closing && this.state !== 'closed') this.open(value);
      },
      (error: unknown) => this.tokenFailed(error),
    );
  }

  /** The token function failed (the network, most likely): like a failed connection, retried with backoff. */
  private tokenFailed(error: unknown): void {
    if (this.closing || this.state === 'closed') return;
    if (isWatchTokenExpired(error)) return this.tokenExpired(error.message);
    this.emit('error', new JobStreamError('TOKEN_UNAVAILABLE', `could not get a watch token: ${errorText(error)}`));
    this.scheduleReconnect({ reason: 'no watch token' });
  }

  /** No usable token is left: stop for good, saying so (retrying cannot help). */
  private tokenExpired(why: string): void {
    this.emit('error', new JobStreamError('TOKEN_EXPIRED', `the watch token of job ${this.options.jobId} expired: ${why}`));
    this.terminate({ reason: 'watch token expired' });
  }

  private open(token: string | null): void {
    if (token !== null && tokenExpired(token)) {
      const how = typeof this.options.token === 'function' ? 'the token function returned an expired one' : 'pass a token function that fetches fresh ones (POST /api/jobs/{id}/watch-tokens)';
      return this.tokenExpired(how);
    }
    const resume = this.seq === null ? null : { lastSeq: this.seq, epoch: this.currentEpoch };
    let socket: WebSocketLike;
    try {
      socket = new this.WS(streamUrl(this.options.baseUrl, this.options.jobId, resume, token));
    } catch (error) {
      // Deterministic (a ws:// URL from an https:// page, a blocked port): retrying cannot help.
      this.emit('error', new JobStreamError('REFUSED', `could not open a WebSocket: ${errorText(error)}`));
      this.terminate({ reason: errorText(error) });
      return;
    }
    this.socket = socket;
    this.lastSocketError = undefined;
    // Handlers of a socket that was replaced or closed are ignored, so a late frame of an old
    // connection can never interleave with the new one.
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.everOpened = true;
      this.lastFrameAt = Date.now();
      this.startKeepalive(socket);
      this.setStatus('open', {});
    };
    socket.onmessage = (event: MessageEventLike) => {
      if (this.socket === socket) this.onFrame(event.data);
    };
    socket.onerror = (event: ErrorEventLike) => {
      // The close event that follows decides what happens; keep the cause to report with it.
      if (this.socket === socket) this.lastSocketError = errorText(event);
    };
    socket.onclose = (event: CloseEventLike) => {
      if (this.socket === socket) this.onSocketClosed(event.code ?? 1006, event.reason || this.lastSocketError || '');
    };
  }

  private onFrame(data: unknown): void {
    this.lastFrameAt = Date.now();
    if (data === PONG_TEXT) return;
    if (typeof data !== 'string') {
      this.emit('error', new JobStreamError('BAD_FRAME', 'a binary frame on a text-only stream; skipped'));
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch (error) {
      this.emit('error', new JobStreamError('BAD_FRAME', `a frame that is not JSON (${errorText(error)}); skipped`, { frame: data.slice(0, 200) }));
      return;
    }
    const parsed = scrapingEventSchema.safeParse(json);
    if (!parsed.success || parsed.data.job_id !== this.options.jobId) {
      const why = parsed.success ? `it belongs to job ${parsed.data.job_id}` : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      this.emit('error', new JobStreamError('BAD_FRAME', `a frame that is not an event of job ${this.options.jobId} (${why}); skipped`, { frame: data.slice(0, 200) }));
      return;
    }
    this.failedAttempts = 0; // the connection works: the next outage starts its backoff afresh
    this.accept(parsed.data);
  }

  private accept(event: ScrapingEvent): void {
    if (event.metadata.snapshot === true) {
      this.acceptSnapshot(event, event.metadata.resync === true);
      return;
    }
    if (event.seq === 0) {
      // Seq 0 is never part of a job's sequence: it is a notice of the gateway ("Job N not found").
      this.emit('event', event);
      if (isTerminal(event)) this.finish(event);
      return;
    }
    if (this.endedSnapshot && event.seq === this.endedSnapshot.seq && isTerminal(event)) {
      // The terminal event the gateway sends after the snapshot of an ended job: the event at the
      // snapshot's seq, which the snapshot summarised, delivered so that the job ends on it.
      this.endedSnapshot = null;
      this.emit('event', event);
      this.finish(event);
      return;
    }
    if (this.seq !== null && event.seq <= this.seq) {
      this.duplicates += 1;
      return;
    }
    if (this.seq !== null && event.seq > this.seq + 1) {
      // The gateway never skips; should it happen anyway, history holds the missing events.
      this.emit('error', new JobStreamError('SEQ_GAP', `expected seq ${this.seq + 1}, got ${event.seq}; resuming after ${this.seq}`));
      this.replaceConnection(`seq gap after ${this.seq}`);
      return;
    }
    this.seq = event.seq;
    const epoch = epochOf(event);
    if (epoch !== null) this.currentEpoch = epoch;
    this.emit('event', event);
    if (isTerminal(event)) this.finish(event);
  }

  private acceptSnapshot(snapshot: ScrapingEvent, resync: boolean): void {
    // A resync snapshot replaces what we hold (the history we would resume from is gone, or the
    // stream restarted under a new epoch); a plain one is the state we start from.
    if (resync || this.seq === null || snapshot.seq >= this.seq) {
      this.seq = snapshot.seq;
      const epoch = epochOf(snapshot);
      if (resync || epoch !== null) this.currentEpoch = epoch;
    }
    this.emit('snapshot', snapshot, { resync });
    // The job's terminal event follows at once; finish on it (or on this snapshot should the
    // connection end before it comes).
    if (ENDED_STATUSES.has(snapshot.status) && !this.endEvent) this.endedSnapshot = snapshot;
  }

  private finish(event: ScrapingEvent): void {
    if (this.endEvent) return;
    this.endEvent = event;
    this.emit('end', event);
    if (this.options.closeOnEnd !== false) void this.close();
  }

  private onSocketClosed(code: number, reason: string): void {
    this.socket = null;
    this.stopTimers();
    if (this.closing) return;
    if (this.endedSnapshot) {
      this.finish(this.endedSnapshot);
      if (this.closing) return;
    }
    if (!shouldReconnect(code)) {
      if (!this.endEvent) {
        this.emit('error', new JobStreamError('REFUSED', `the gateway closed the stream with ${code}${reason ? ` (${reason})` : ''}`, { closeCode: code }));
      }
      this.terminate({ code, reason });
      return;
    }
    this.scheduleReconnect({ code, reason });
  }

  /** Drops the current connection (stale, or it skipped a seq) and resumes on a new one. */
  private replaceConnection(reason: string): void {
    const socket = this.socket;
    this.socket = null;
    this.stopTimers();
    if (socket) void closeSocket(socket);
    this.scheduleReconnect({ reason });
  }

  private scheduleReconnect(detail: StatusDetail): void {
    const maxRetries = this.options.maxRetries ?? Number.POSITIVE_INFINITY;
    const firstRetries = this.options.firstConnectRetries;
    if (firstRetries !== undefined && !this.everOpened && this.failedAttempts >= firstRetries) {
      const why = detail.reason ? ` (${detail.reason})` : '';
      this.emit('error', new JobStreamError('UNREACHABLE', `no connection could be opened to ${this.options.baseUrl}${why}`, { closeCode: detail.code }));
      this.terminate(detail);
      return;
    }
    if (this.failedAttempts >= maxRetries) {
      this.emit('error', new JobStreamError('GAVE_UP', `gave up after ${this.failedAttempts} reconnect attempts`, { closeCode: detail.code }));
      this.terminate(detail);
      return;
    }
    const delayMs = backoffDelay(this.failedAttempts, this.backoff, this.random);
    this.failedAttempts += 1;
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
    this.setStatus('reconnecting', { ...detail, attempt: this.failedAttempts, delayMs });
  }

  /** Closed by the other side for good (refused, or given up). */
  private terminate(detail: StatusDetail): void {
    this.stopTimers();
    this.closing = Promise.resolve();
    this.setStatus('closed', detail);
  }

  private startKeepalive(socket: WebSocketLike): void {
    const every = this.options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
    if (every <= 0) return;
    this.keepaliveTimer = setInterval(() => {
      // A half-open TCP connection (a train in a tunnel) can look open for minutes; the gateway
      // answers every ping, so two silent intervals mean the connection is gone.
      if (Date.now() - this.lastFrameAt > 2 * every) {
        this.emit('error', new JobStreamError('STALE_CONNECTION', `nothing received for ${2 * every} ms; reconnecting`));
        this.replaceConnection('connection went silent');
        return;
      }
      if (socket.readyState === READY_STATE.OPEN) socket.send(PING_TEXT);
    }, every);
  }

  private stopTimers(): void {
    clearTimeout(this.reconnectTimer);
    clearInterval(this.keepaliveTimer);
    this.reconnectTimer = undefined;
    this.keepaliveTimer = undefined;
  }

  private setStatus(status: StreamStatus, detail: StatusDetail): void {
    if (status === 'closed' && this.state === 'closed') return;
    this.state = status;
    if (status === 'closed') this.settle(this.endEvent);
    this.emit('status', status, detail);
  }
}

function isTerminal(event: ScrapingEvent): boolean {
  return TERMINAL_EVENT_TYPES.has(event.event_type) || event.status === 'cancelled';
}

function epochOf(event: ScrapingEvent): string | null {
  const epoch = event.metadata.epoch;
  return typeof epoch === 'string' && epoch.length > 0 ? epoch : null;
}

function errorText(error: unknown): string {
  if (error && typeof error === 'object') {
    const { message, error: inner } = error as ErrorEventLike;
    if (typeof message === 'string' && message) return message;
    if (inner instanceof Error) return inner.message;
  }
  return error instanceof Error ? error.message : '';
}

/** Closes a socket we are done with; resolves on its close event or after CLOSE_WAIT_MS, whichever is first. */
function closeSocket(socket: WebSocketLike): Promise<void> {
  if (socket.readyState === READY_STATE.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, CLOSE_WAIT_MS);
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = () => {
      clearTimeout(timer);
      resolve();
    };
    // Keep an error handler: `ws` throws on an 'error' nobody listens to (closing while connecting emits one).
    socket.onerror = () => undefined;
    socket.close(1000);
  });
}
