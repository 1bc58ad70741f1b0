import { EVENT_TYPES, jobIdSchema, scrapingEventSchema, TERMINAL_EVENT_TYPES, type EventType, type ScrapingEvent } from '../events.js';
import { shouldReconnect } from '../protocol.js';
import { serverControlMessageSchema, sseEventId, SUBPROTOCOL_MSGPACK, type ServerControlMessage } from '../protocol-v2.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import type { ResumePoint } from './stream-url.js';
import { TypedEmitter } from './typed-emitter.js';
import { isWatchTokenExpired, type TokenSource } from './watch-token.js';
import { READY_STATE, type WebSocketLike } from './websocket-like.js';

export type MuxWebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike & { binaryType?: string };

/** The part of EventSource the fallback uses (the browser's, or a polyfill). */
export interface EventSourceLike {
  /** 2 (CLOSED) once the browser gave up: the gateway refused the stream (404, 400, 403). */
  readonly readyState?: number;
  onopen: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
  addEventListener(type: string, listener: (event: { data?: unknown }) => void): void;
  close(): void;
}
export type EventSourceConstructor = new (url: string) => EventSourceLike;

export interface ScoutClientOptions {
  /** The gateway, as http(s):// or ws(s)://. */
  baseUrl: string;
  /** Default: globalThis.WebSocket. */
  WebSocket?: MuxWebSocketConstructor;
  /** Default: globalThis.EventSource; used when WebSockets cannot be opened. */
  EventSource?: EventSourceConstructor;
  /** MessagePack opt-in: pass a decoder (e.g. msgpackr's `unpack`); frames are then binary. */
  msgpack?: { unpack(data: Uint8Array): unknown };
  backoff?: Partial<BackoffOptions>;
  /** Sends a ping this often; a connection silent for two intervals is replaced. 0 disables. */
  keepaliveMs?: number;
  /** WebSocket attempts in a row that never opened before falling back to SSE (default 3; Infinity: never). */
  sseFallbackAfter?: number;
  random?: () => number;
  /**
   * Watch tokens for jobs subscribed without a `token` of their own: called with the job id when
   * a subscription first needs one and again when the gateway refuses the one it has (an expired
   * token), e.g. POST /api/jobs/{id}/watch-tokens with the owner's key. Null: no token (access
   * control off, or none can be had).
   */
  token?: (jobId: number) => string | null | Promise<string | null>;
}

export interface SubscribeOptions {
  /** Only these event types (the gateway filters; seq gaps are then expected). */
  eventTypes?: EventType[];
  /** At most one job_progress per this many ms (latest wins; seq gaps are then expected). */
  progressIntervalMs?: number;
  /** Start after a seq already held instead of from a snapshot. */
  resumeFrom?: ResumePoint;
  /**
   * The job's watch token, or a function that fetches one (sync or async): called for the first
   * subscribe and again, once, when the gateway refuses the token held (it expired), before the
   * subscription gives up with an error. A plain string is used until the gateway refuses it.
   */
  token?: string | TokenSource;
}

export interface JobSubscriptionEvents {
  /** Every event of the job (the subscription's types), once and in seq order. */
  event: (event: ScrapingEvent) => void;
  snapshot: (snapshot: ScrapingEvent, info: { resync: boolean }) => void;
  end: (event: ScrapingEvent) => void;
  /**
   * A refusal: the subscription stopped. The gateway's codes (NOT_FOUND, FORBIDDEN, BAD_REQUEST,
   * TOO_MANY_SUBSCRIPTIONS), or the client's: TOKEN_EXPIRED (the token the gateway accepted before
   * is refused now and no fresh one could be had), TOKEN_UNAVAILABLE (the token function kept
   * failing), REFUSED (the connection or event stream was refused).
   */
  error: (error: { code: string; message: string }) => void;
}

/** Attempts of a token function that throws (the network, most likely) before the subscription gives up. */
const TOKEN_ATTEMPTS = 4;

const DEFAULT_KEEPALIVE_MS = 25_000;
/** CLOSE_CODES.RESYNC: the job's stream restarted or its history no longer holds the gap. */
const RESYNC_CODE = 4000;
const ENDED_STATUSES = new Set<string>(['completed', 'failed', 'cancelled']);

/**
 * One job followed through a ScoutClient. It keeps the last seq and epoch it delivered and
 * resumes from them after any reconnect or resync. Seq gaps: without a filter or interval a gap
 * is a loss and the job is resubscribed from its last seq; with one, gaps are the filter's doing
 * (the gateway tells of real losses by `resync`), so only order and duplicates are checked.
 */
export class JobSubscription extends TypedEmitter<JobSubscriptionEvents> {
  seq: number | null;
  epoch: string | null;
  ended = false;
  duplicates = 0;
  /** Its EventSource, in SSE mode. */
  source: EventSourceLike | null = null;
  /** The snapshot of an ended job, until the terminal event that follows it arrives. */
  private endedSnapshot: ScrapingEvent | null = null;
  /** Subscribed afresh after a resync: the next snapshot is reported as one. */
  private resyncing = false;
  /** The watch token sent with the next subscribe (null: none). */
  token: string | null;
  /** Whether `token` came from the token function yet (a plain string needs no call). */
  tokenFetched: boolean;
  /** A call of the token function under way: later sends wait for it instead of calling again. */
  tokenPending: Promise<boolean> | null = null;
  /** A fresh token was fetched after a refusal, and nothing has been served with it yet. */
  refreshed = false;
  /** The gateway served this subscription at least once (its token was accepted then). */
  served = false;

  constructor(
    readonly jobId: number,
    readonly options: SubscribeOptions,
    private readonly client: ScoutClient,
    /** Where fresh tokens come from: the subscription's own function, or the client's. */
    readonly tokenSource: TokenSource | null = null,
  ) {
    super();
    this.seq = options.resumeFrom?.lastSeq ?? null;
    this.epoch = options.resumeFrom?.epoch ?? null;
    this.token = typeof options.token === 'string' ? options.token : null;
    this.tokenFetched = typeof options.token === 'string' || tokenSource === null;
  }

  get filtered(): boolean {
    return (this.options.eventTypes?.length ?? 0) > 0 || (this.options.progressIntervalMs ?? 0) > 0;
  }

  get lastSeq(): number | null {
    return this.seq;
  }

  unsubscribe(): void {
    this.client.unsubscribe(this.jobId);
  }

  /** The subscribe message for the current resume point. */
  subscribeMessage(): Record<string, unknown> {
    const { eventTypes, progressIntervalMs } = this.options;
    const token = this.token;
    return {
      type: 'subscribe',
      job_id: this.jobId,
      ...(this.seq !== null ? { last_seq: this.seq, epoch: this.epoch } : {}),
      ...(eventTypes?.length ? { event_types: eventTypes } : {}),
      ...(progressIntervalMs ? { progress_interval_ms: progressIntervalMs } : {}),
      ...(token ? { token } : {}),
    };
  }

  /** Handles one event; returns false when a loss was seen (the caller resubscribes). */
  accept(event: ScrapingEvent): boolean {
    if (this.ended) return true;
    if (event.metadata.snapshot === true) {
      const resync = event.metadata.resync === true || this.resyncing;
      this.resyncing = false;
      if (resync || this.seq === null || event.seq >= this.seq) {
        this.seq = event.seq;
        const epoch = epochOf(event);
        if (resync || epoch !== null) this.epoch = epoch;
      }
      this.emit('snapshot', event, { resync });
      if (ENDED_STATUSES.has(event.status)) {
        // The gateway sends the job's terminal event right after the snapshot of an ended job:
        // end on it, unless this subscription's filter keeps it out.
        const terminal = event.status === 'completed' ? 'job_completed' : 'job_failed';
        const types = this.options.eventTypes;
        if (event.status !== 'cancelled' && (!types?.length || types.includes(terminal))) this.endedSnapshot = event;
        else this.finish(event);
      }
      return true;
    }
    if (this.endedSnapshot && event.seq === this.endedSnapshot.seq && TERMINAL_EVENT_TYPES.has(event.event_type)) {
      this.endedSnapshot = null;
      this.emit('event', event);
      this.finish(event);
      return true;
    }
    if (event.seq === 0) {
      this.emit('event', event);
      return true;
    }
    if (this.seq !== null && event.seq <= this.seq) {
      this.duplicates += 1;
      return true;
    }
    if (this.seq !== null && !this.filtered && event.seq > this.seq + 1) return false;
    this.seq = event.seq;
    const epoch = epochOf(event);
    if (epoch !== null) this.epoch = epoch;
    this.emit('event', event);
    if (TERMINAL_EVENT_TYPES.has(event.event_type) || event.status === 'cancelled') this.finish(event);
    return true;
  }

  /** After a resync: the next snapshot replaces everything held, and says so. */
  forgetPosition(): void {
    this.seq = null;
    this.epoch = null;
    this.resyncing = true;
  }

  fail(code: string, message: string): void {
    this.ended = true;
    this.emit('error', { code, message });
  }

  private finish(event: ScrapingEvent): void {
    if (this.ended) return;
    this.ended = true;
    this.emit('end', event);
    this.client.unsubscribe(this.jobId);
  }
}

export type ClientStatus = 'connecting' | 'open' | 'reconnecting' | 'sse' | 'closed';

export interface ScoutClientEvents {
  status: (status: ClientStatus, detail: { code?: number; attempt?: number; delayMs?: number }) => void;
}

/**
 * Follows any number of jobs over one WS /ws connection: subscribe and unsubscribe at any time;
 * after a reconnect every job is resubscribed from the last seq it delivered. When WebSockets
 * cannot be opened at all, it falls back to one EventSource per job on GET /sse/scraping/{id}.
 * No Node APIs: the dashboard runs it as bundled.
 */
export class ScoutClient extends TypedEmitter<ScoutClientEvents> {
  private readonly subscriptions = new Map<number, JobSubscription>();
  private readonly backoff: BackoffOptions;
  private readonly random: () => number;
  private socket: WebSocketLike | null = null;
  private state: ClientStatus | 'idle' = 'idle';
  private failedAttempts = 0;
  private neverOpened = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private keepaliveTimer: ReturnType<typeof setInterval> | undefined;
  private lastFrameAt = 0;
  private sse = false;

  constructor(private readonly options: ScoutClientOptions) {
    super();
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.random = options.random ?? Math.random;
    httpBase(options.baseUrl); // a bad URL fails here
  }

  get status(): ClientStatus | 'idle' {
    return this.state;
  }

  /** Whether the client fell back to SSE. */
  get usingSse(): boolean {
    return this.sse;
  }

  subscribe(jobId: number, options: SubscribeOptions = {}): JobSubscription {
    if (!jobIdSchema.safeParse(jobId).success) throw new TypeError(`job id must be a positive integer, got ${jobId}`);
    const existing = this.subscriptions.get(jobId);
    if (existing) return existing;
    const own = options.token;
    const clientSource = this.options.token;
    const source: TokenSource | null = typeof own === 'function' ? own : own === undefined && clientSource ? () => clientSource(jobId) : null;
    const subscription = new JobSubscription(jobId, options, this, source);
    this.subscriptions.set(jobId, subscription);
    if (this.sse) this.openSource(subscription);
    else if (this.state === 'idle') this.connect();
    else if (this.state === 'open') this.sendSubscribe(subscription);
    return subscription;
  }

  /** Stops following a job (its listeners get nothing more). */
  unsubscribe(jobId: number): void {
    const subscription = this.subscriptions.get(jobId);
    if (!subscription) return;
    this.subscriptions.delete(jobId);
    subscription.ended = true;
    subscription.source?.close();
    this.send({ type: 'unsubscribe', job_id: jobId });
  }

  close(): void {
    this.stopTimers();
    for (const subscription of this.subscriptions.values()) subscription.source?.close();
    this.subscriptions.clear();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.onerror = () => undefined;
      socket.close(1000);
    }
    this.setStatus('closed', {});
  }

  /** Drops the current connection as a network failure would (tests, or a page going offline). */
  dropConnection(): void {
    const socket = this.socket;
    if (!socket) return;
    this.socket = null;
    socket.onclose = null;
    socket.onmessage = null;
    socket.onerror = () => undefined;
    socket.close(1000);
    this.scheduleReconnect({});
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    const WS = this.options.WebSocket ?? (globalThis as { WebSocket?: MuxWebSocketConstructor }).WebSocket;
    if (!WS) return this.fallBackToSse();
    if (this.state === 'idle') this.setStatus('connecting', {});
    let socket: WebSocketLike & { binaryType?: string };
    try {
      socket = this.options.msgpack ? new WS(muxUrl(this.options.baseUrl), [SUBPROTOCOL_MSGPACK]) : new WS(muxUrl(this.options.baseUrl));
    } catch {
      return this.fallBackToSse();
    }
    if ('binaryType' in socket) socket.binaryType = 'arraybuffer';
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      opened = true;
      this.neverOpened = 0;
      this.lastFrameAt = Date.now();
      this.setStatus('open', {});
      for (const subscription of this.subscriptions.values()) this.sendSubscribe(subscription);
      this.startKeepalive(socket);
    };
    socket.onmessage = (event: { data?: unknown }) => {
      if (this.socket === socket) this.onFrame(event.data);
    };
    socket.onerror = () => undefined;
    socket.onclose = (event: { code?: number }) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.stopTimers();
      if (!opened) this.neverOpened += 1;
      if (this.neverOpened >= (this.options.sseFallbackAfter ?? 3)) return this.fallBackToSse();
      const code = event.code ?? 1006;
      if (!shouldReconnect(code) && code !== 1000) {
        for (const subscription of this.subscriptions.values()) subscription.fail('REFUSED', `the gateway closed the connection with ${code}`);
        this.subscriptions.clear();
        return this.setStatus('closed', { code });
      }
      this.scheduleReconnect({ code });
    };
  }

  private onFrame(data: unknown): void {
    this.lastFrameAt = Date.now();
    let value: unknown;
    try {
      if (typeof data === 'string') value = JSON.parse(data);
      else if (this.options.msgpack && (data instanceof ArrayBuffer || ArrayBuffer.isView(data))) {
        value = this.options.msgpack.unpack(data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      } else return;
    } catch {
      return;
    }
    if (value && typeof value === 'object' && 'type' in value) {
      const control = serverControlMessageSchema.safeParse(value);
      if (control.success) this.onControl(control.data);
      return;
    }
    const event = scrapingEventSchema.safeParse(value);
    if (!event.success) return;
    this.failedAttempts = 0;
    const subscription = this.subscriptions.get(event.data.job_id);
    if (subscription && !subscription.accept(event.data)) this.resubscribe(subscription);
  }

  private onControl(message: ServerControlMessage): void {
    if (message.type === 'subscribed') {
      const subscription = this.subscriptions.get(message.job_id);
      if (subscription) this.servedWithToken(subscription);
      return;
    }
    if (message.type === 'pong' || message.type === 'unsubscribed') return;
    if (message.job_id === null) return;
    const subscription = this.subscriptions.get(message.job_id);
    if (!subscription) return;
    if (message.type === 'error' && message.code === 'FORBIDDEN') return this.tokenRefused(subscription, message.message);
    if (message.type === 'resync' || (message.type === 'error' && message.code === 'UNAVAILABLE')) {
      // The gateway could not keep this job exact: subscribe again — from what we hold, or, when
      // the job's stream restarted (4000), afresh: what we hold no longer continues into it.
      if (message.type === 'resync' && message.code === RESYNC_CODE) subscription.forgetPosition();
      const delay = backoffDelay(0, this.backoff, this.random);
      setTimeout(() => {
        if (this.subscriptions.get(subscription.jobId) === subscription && this.state === 'open') this.sendSubscribe(subscription);
      }, delay);
      return;
    }
    if (message.type === 'error' && message.code !== 'ALREADY_SUBSCRIBED') this.failSubscription(subscription, message.code, message.message);
  }

  /** A loss on an unfiltered job: resubscribe it from its last seq. */
  private resubscribe(subscription: JobSubscription): void {
    this.send({ type: 'unsubscribe', job_id: subscription.jobId });
    this.sendSubscribe(subscription);
  }

  /** Subscribes a job on the open connection, once it has the token it needs. */
  private sendSubscribe(subscription: JobSubscription): void {
    if (subscription.tokenFetched) return this.send(subscription.subscribeMessage());
    const socket = this.socket;
    void this.fetchToken(subscription).then((ok) => {
      if (ok && this.socket === socket && this.subscriptions.get(subscription.jobId) === subscription) this.send(subscription.subscribeMessage());
    });
  }

  /**
   * Calls the subscription's token function (once at a time). False when the subscription failed
   * meanwhile: the function said no token can be had, or kept throwing.
   */
  private fetchToken(subscription: JobSubscription): Promise<boolean> {
    subscription.tokenPending ??= (async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          subscription.token = (await subscription.tokenSource!()) ?? null;
          subscription.tokenFetched = true;
          return true;
        } catch (error) {
          if (subscription.ended) return false;
          const why = error instanceof Error ? error.message : String(error);
          if (isWatchTokenExpired(error)) {
            this.failSubscription(subscription, 'TOKEN_EXPIRED', `job ${subscription.jobId}: ${why}`);
            return false;
          }
          if (attempt + 1 >= TOKEN_ATTEMPTS) {
            this.failSubscription(subscription, 'TOKEN_UNAVAILABLE', `job ${subscription.jobId}: could not get a watch token (${TOKEN_ATTEMPTS} attempts): ${why}`);
            return false;
          }
          await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, this.backoff, this.random)));
          if (subscription.ended) return false;
        }
      }
    })().finally(() => (subscription.tokenPending = null));
    return subscription.tokenPending;
  }

  /** The gateway served the subscription: its token works; a later refusal may refresh it again. */
  private servedWithToken(subscription: JobSubscription): void {
    subscription.served = true;
    subscription.refreshed = false;
  }

  /**
   * The gateway refused the subscription's credentials (FORBIDDEN on /ws, a refused event stream):
   * what happens to a token that expired. With a token function, fetch a fresh token once and try
   * again; refused again, or without a way to get one, the subscription stops with a clear error.
   * `retry` subscribes again with the fresh token (a subscribe message, or a new EventSource).
   */
  private tokenRefused(
    subscription: JobSubscription,
    gatewayMessage: string,
    retry = () => this.sendSubscribe(subscription),
    /** The code when even a fresh token is refused: FORBIDDEN on /ws, REFUSED for an event stream (it could be a 404). */
    refusedCode = 'FORBIDDEN',
  ): void {
    const { jobId } = subscription;
    const held = subscription.token;
    if (!subscription.tokenSource) {
      // The token worked before and tokens cannot be revoked: it ran out.
      if (subscription.served && held !== null) {
        return this.failSubscription(subscription, 'TOKEN_EXPIRED', `job ${jobId}: the watch token expired (${gatewayMessage}); pass a token function to fetch fresh ones (POST /api/jobs/${jobId}/watch-tokens)`);
      }
      return this.failSubscription(subscription, 'FORBIDDEN', gatewayMessage);
    }
    if (subscription.refreshed) {
      return this.failSubscription(subscription, refusedCode, `job ${jobId}: a fresh watch token from the token function was refused too: ${gatewayMessage}`);
    }
    subscription.refreshed = true;
    void this.fetchToken(subscription).then((ok) => {
      if (!ok || this.subscriptions.get(jobId) !== subscription) return;
      if (subscription.token === null || subscription.token === held) {
        const what = subscription.token === null ? 'no token' : 'the same token again';
        // A token that was accepted before ran out; one that never was is simply not allowed.
        const code = subscription.served && held !== null ? 'TOKEN_EXPIRED' : refusedCode;
        return this.failSubscription(subscription, code, `job ${jobId}: the watch token was refused (${gatewayMessage}) and the token function returned ${what}`);
      }
      retry();
    });
  }

  private failSubscription(subscription: JobSubscription, code: string, message: string): void {
    if (subscription.ended) return;
    if (this.subscriptions.get(subscription.jobId) === subscription) this.subscriptions.delete(subscription.jobId);
    subscription.source?.close();
    subscription.fail(code, message);
  }

  private send(message: object): void {
    const socket = this.socket;
    if (socket && socket.readyState === READY_STATE.OPEN) socket.send(JSON.stringify(message));
  }

  private scheduleReconnect(detail: { code?: number }): void {
    const delayMs = backoffDelay(this.failedAttempts, this.backoff, this.random);
    this.failedAttempts += 1;
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
    this.setStatus('reconnecting', { ...detail, attempt: this.failedAttempts, delayMs });
  }

  private fallBackToSse(): void {
    const ES = this.options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
    if (!ES) {
      this.scheduleReconnect({});
      return;
    }
    this.sse = true;
    this.setStatus('sse', {});
    for (const subscription of this.subscriptions.values()) this.openSource(subscription);
  }

  /** One EventSource per job; it reconnects by itself, sending the Last-Event-ID it saw. */
  private openSource(subscription: JobSubscription): void {
    if (!subscription.tokenFetched) {
      void this.fetchToken(subscription).then((ok) => {
        if (ok && this.sse && this.subscriptions.get(subscription.jobId) === subscription) this.openSource(subscription);
      });
      return;
    }
    const ES = (this.options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource)!;
    const url = new URL(`${httpBase(this.options.baseUrl)}/sse/scraping/${subscription.jobId}`);
    const { eventTypes, progressIntervalMs } = subscription.options;
    const token = subscription.token;
    if (eventTypes?.length) url.searchParams.set('event_types', eventTypes.join(','));
    if (progressIntervalMs) url.searchParams.set('progress_interval_ms', String(progressIntervalMs));
    if (token) url.searchParams.set('token', token);
    if (subscription.seq !== null) url.searchParams.set('last_event_id', sseEventId(subscription.epoch, subscription.seq));
    const source = new ES(url.toString());
    subscription.source = source;
    const onEvent = (message: { data?: unknown }) => {
      const parsed = typeof message.data === 'string' ? scrapingEventSchema.safeParse(JSON.parse(message.data)) : null;
      if (parsed?.success) subscription.accept(parsed.data);
    };
    for (const type of EVENT_TYPES) source.addEventListener(type, onEvent);
    source.onopen = () => {
      if (subscription.source === source) this.servedWithToken(subscription);
    };
    source.onerror = () => {
      // EventSource retries by itself after a dropped response; it stops only on a refusal.
      if (source.readyState !== 2 || subscription.ended || subscription.source !== source) return;
      const refused = `the gateway refused the event stream of job ${subscription.jobId}`;
      // EventSource does not tell a 401 from a 404: with a token function, a refusal after the
      // stream worked (its token expired, most likely) is tried once more with a fresh token.
      if (subscription.tokenSource && subscription.served) {
        source.close();
        const reopen = () => {
          if (this.sse) this.openSource(subscription);
        };
        return this.tokenRefused(subscription, refused, reopen, 'REFUSED');
      }
      const hint = subscription.served && subscription.token !== null ? ' (its watch token may have expired; pass a token function to fetch fresh ones)' : '';
      this.failSubscription(subscription, 'REFUSED', refused + hint);
    };
  }

  private startKeepalive(socket: WebSocketLike): void {
    const every = this.options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
    if (every <= 0) return;
    this.keepaliveTimer = setInterval(() => {
      if (Date.now() - this.lastFrameAt > 2 * every) return this.dropConnection();
      if (socket.readyState === READY_STATE.OPEN) socket.send('{"type":"ping"}');
    }, every);
  }

  private stopTimers(): void {
    clearTimeout(this.reconnectTimer);
    clearInterval(this.keepaliveTimer);
    this.reconnectTimer = undefined;
    this.keepaliveTimer = undefined;
  }

  private setStatus(status: ClientStatus, detail: { code?: number; attempt?: number; delayMs?: number }): void {
    if (status === this.state && status === 'closed') return;
    this.state = status;
    this.emit('status', status, detail);
  }
}

function epochOf(event: ScrapingEvent): string | null {
  const epoch = event.metadata.epoch;
  return typeof epoch === 'string' && epoch.length > 0 ? epoch : null;
}

/** The gateway's base as http(s)://, without a trailing slash. */
function httpBase(baseUrl: string): string {
  const url = new URL(baseUrl);
  if (url.protocol === 'ws:') url.protocol = 'http:';
  else if (url.protocol === 'wss:') url.protocol = 'https:';
  else if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`gateway URL must be http(s):// or ws(s)://, got ${baseUrl}`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** The URL of WS /ws on the gateway. */
export function muxUrl(baseUrl: string): string {
  const url = new URL(`${httpBase(baseUrl)}/ws`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}
