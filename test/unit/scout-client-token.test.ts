import { afterEach, describe, expect, it } from 'vitest';
import { JobStream } from '../../shared/client/job-stream.js';
import { ScoutClient, type EventSourceLike } from '../../shared/client/scout-client.js';
import { tokenExpired, tokenExpiresAt, WatchTokenExpired } from '../../shared/client/watch-token.js';
import type { ScrapingEvent } from '../../shared/events.js';

/*
 * Watch tokens run out (WATCH_TOKEN_TTL_SECONDS). A ScoutClient given a token function fetches a
 * fresh token once when the gateway refuses the held one (FORBIDDEN on /ws, a refused event
 * stream) and subscribes again; refused again, or without a function, the subscription stops
 * with a clear error. A fake WebSocket plays the gateway; the wire is tested in
 * test/integration/token-refresh.test.ts.
 */

class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: ((event: never) => void) | null = null;
  onmessage: ((event: never) => void) | null = null;
  onerror: ((event: never) => void) | null = null;
  onclose: ((event: never) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(): void {
    this.readyState = 3;
  }

  open(): void {
    this.readyState = 1;
    (this.onopen as ((e: unknown) => void) | null)?.({});
  }

  answer(message: object): void {
    (this.onmessage as ((e: unknown) => void) | null)?.({ data: JSON.stringify(message) });
  }

  drop(): void {
    this.readyState = 3;
    (this.onclose as ((e: unknown) => void) | null)?.({ code: 1006 });
  }

  subscribes(): Record<string, unknown>[] {
    return this.sent.filter((m) => m.type === 'subscribe');
  }
}

const latest = () => FakeSocket.all.at(-1)!;
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const subscribed = (jobId: number) => ({ type: 'subscribed', job_id: jobId, event_types: null, progress_interval_ms: 0, seq: 1 });
const forbidden = (jobId: number) => ({ type: 'error', job_id: jobId, code: 'FORBIDDEN', message: 'the watch token is invalid or expired; ask for a new one (POST /api/jobs/{id}/watch-tokens)' });
const event = (jobId: number, seq: number): ScrapingEvent => ({
  job_id: jobId,
  seq,
  event_type: 'job_progress',
  status: 'running',
  progress: seq,
  results_count: 0,
  message: null,
  metadata: { epoch: 'E1' },
  timestamp: '2026-01-01T00:00:00.000Z',
});

function client(options: Partial<ConstructorParameters<typeof ScoutClient>[0]> = {}): ScoutClient {
  return new ScoutClient({ baseUrl: 'http://gw:8000', WebSocket: FakeSocket as never, backoff: { baseMs: 1, maxMs: 2 }, keepaliveMs: 0, sseFallbackAfter: Infinity, random: () => 0.5, ...options });
}

/** Opens the first connection and lets the gateway serve `jobId` once, then drops the connection and opens the next. */
async function servedThenReconnected(c: ScoutClient, jobId: number): Promise<FakeSocket> {
  await tick();
  const first = latest();
  first.open();
  await tick();
  first.answer(subscribed(jobId));
  first.answer(event(jobId, 1));
  first.drop();
  await tick(10);
  const second = latest();
  expect(second).not.toBe(first);
  second.open();
  await tick();
  return second;
}

afterEach(() => {
  FakeSocket.all = [];
});

describe('ScoutClient watch tokens', () => {
  it('fetches a fresh token once when the held one is refused after a reconnect, and carries on', async () => {
    const tokens = ['t.1.a', 't.2.b'];
    let calls = 0;
    const c = client();
    const sub = c.subscribe(5, { token: async () => tokens[calls++]! });
    const errors: string[] = [];
    const seqs: number[] = [];
    sub.on('error', (e) => errors.push(e.code));
    sub.on('event', (e) => seqs.push(e.seq));
    const socket = await servedThenReconnected(c, 5);
    expect(calls).toBe(1);
    expect(socket.subscribes()).toEqual([{ type: 'subscribe', job_id: 5, last_seq: 1, epoch: 'E1', token: 't.1.a' }]);
    socket.answer(forbidden(5));
    await tick();
    expect(calls).toBe(2);
    expect(socket.subscribes().at(-1)).toEqual({ type: 'subscribe', job_id: 5, last_seq: 1, epoch: 'E1', token: 't.2.b' });
    socket.answer(subscribed(5));
    socket.answer(event(5, 2));
    expect(seqs).toEqual([1, 2]);
    expect(errors).toEqual([]);
    // Served with the fresh token: a later expiry may refresh again.
    socket.answer(forbidden(5));
    await tick();
    expect(calls).toBe(3);
    c.close();
  });

  it('stops with a clear error when the fresh token is refused too', async () => {
    const c = client();
    let calls = 0;
    const sub = c.subscribe(5, { token: () => `t.${++calls}.x` });
    const errors: { code: string; message: string }[] = [];
    sub.on('error', (e) => errors.push(e));
    const socket = await servedThenReconnected(c, 5);
    socket.answer(forbidden(5));
    await tick();
    socket.answer(forbidden(5));
    await tick();
    expect(calls).toBe(2);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe('FORBIDDEN');
    expect(errors[0]!.message).toMatch(/fresh watch token from the token function was refused too/);
    expect(socket.subscribes()).toHaveLength(2); // no endless retry
    c.close();
  });

  it('without a token function, a token that worked and is refused after a reconnect ends as TOKEN_EXPIRED', async () => {
    const c = client();
    const sub = c.subscribe(5, { token: 'fixed.token.x' });
    const errors: { code: string; message: string }[] = [];
    sub.on('error', (e) => errors.push(e));
    const socket = await servedThenReconnected(c, 5);
    socket.answer(forbidden(5));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe('TOKEN_EXPIRED');
    expect(errors[0]!.message).toMatch(/pass a token function/);
    c.close();
  });

  it('a token function that returns the same token, or throws WatchTokenExpired, ends as TOKEN_EXPIRED at once', async () => {
    for (const source of [() => 'same.token.x', (() => {
      let first = true;
      return () => {
        if (first) return ((first = false), 'first.token.x');
        throw new WatchTokenExpired('the watch link expired; enter the API key');
      };
    })()]) {
      const c = client();
      const sub = c.subscribe(5, { token: source });
      const errors: { code: string; message: string }[] = [];
      sub.on('error', (e) => errors.push(e));
      const socket = await servedThenReconnected(c, 5);
      socket.answer(forbidden(5));
      await tick();
      expect(errors.map((e) => e.code)).toEqual(['TOKEN_EXPIRED']);
      expect(socket.subscribes()).toHaveLength(1);
      c.close();
      FakeSocket.all = [];
    }
  });

  it("uses the client's token function for jobs without their own, per job id; retries one that throws", async () => {
    const asked: number[] = [];
    let failures = 2;
    const c = client({
      token: (jobId) => {
        asked.push(jobId);
        if (jobId === 6 && failures-- > 0) throw new Error('network down');
        return `t.${jobId}.x`;
      },
    });
    c.subscribe(5);
    c.subscribe(6);
    c.subscribe(7, { token: 'own.token.x' });
    await tick();
    latest().open();
    await tick(30);
    const byJob = Object.fromEntries(latest().subscribes().map((m) => [m.job_id, m.token]));
    expect(byJob).toEqual({ 5: 't.5.x', 6: 't.6.x', 7: 'own.token.x' });
    expect(asked.filter((id) => id === 6)).toHaveLength(3);
    expect(asked).not.toContain(7);
    c.close();
  });

  it('on SSE, a refused event stream that had worked is reopened once with a fresh token', async () => {
    const sources: FakeSource[] = [];
    class FakeSource implements EventSourceLike {
      readyState = 0;
      onopen: ((event: never) => void) | null = null;
      onerror: ((event: never) => void) | null = null;
      constructor(readonly url: string) {
        sources.push(this);
      }
      addEventListener(): void {}
      close(): void {
        this.readyState = 2;
      }
      opened(): void {
        this.readyState = 1;
        (this.onopen as ((e: unknown) => void) | null)?.({});
      }
      refused(): void {
        this.readyState = 2;
        (this.onerror as ((e: unknown) => void) | null)?.({});
      }
    }
    let calls = 0;
    // A WebSocket that cannot be opened at all: the client falls back to SSE at once.
    const Blocked = class {
      constructor() {
        throw new Error('WebSockets blocked');
      }
    };
    const c = new ScoutClient({ baseUrl: 'http://gw:8000', EventSource: FakeSource, WebSocket: Blocked as never, random: () => 0.5 });
    const sub = c.subscribe(5, { token: () => `t.${++calls}.x` });
    const errors: string[] = [];
    sub.on('error', (e) => errors.push(e.code));
    await tick();
    expect(c.usingSse).toBe(true);
    expect(new URL(sources[0]!.url).searchParams.get('token')).toBe('t.1.x');
    sources[0]!.opened();
    sources[0]!.refused();
    await tick();
    expect(sources).toHaveLength(2);
    expect(new URL(sources[1]!.url).searchParams.get('token')).toBe('t.2.x');
    sources[1]!.refused();
    await tick();
    expect(errors).toEqual(['REFUSED']);
    c.close();
  });
});

describe('JobStream and expired tokens', () => {
  const jwt = (exp: number) => `x.${Buffer.from(JSON.stringify({ job: 1, exp })).toString('base64url')}.y`;

  it('reads exp from a token, and nothing from one that is not a JWT', () => {
    expect(tokenExpiresAt(jwt(1_900_000_000))).toBe(1_900_000_000_000);
    expect(tokenExpiresAt('not-a-token')).toBeNull();
    expect(tokenExpired(jwt(Math.floor(Date.now() / 1000) - 1))).toBe(true);
    expect(tokenExpired(jwt(Math.floor(Date.now() / 1000) + 60))).toBe(false);
  });

  it('stops with TOKEN_EXPIRED instead of reconnecting for ever with a token that ran out', async () => {
    const stream = new JobStream({ baseUrl: 'http://gw:8000', jobId: 1, WebSocket: FakeSocket as never, token: jwt(Math.floor(Date.now() / 1000) - 1) });
    const errors: { code: string; retryable: boolean }[] = [];
    stream.on('error', (e) => errors.push(e));
    stream.start();
    expect(await stream.finished()).toBeNull();
    expect(errors.map((e) => [e.code, e.retryable])).toEqual([['TOKEN_EXPIRED', false]]);
    expect(FakeSocket.all).toHaveLength(0);
  });

  it('stops with TOKEN_EXPIRED when the token function throws WatchTokenExpired', async () => {
    const stream = new JobStream({
      baseUrl: 'http://gw:8000',
      jobId: 1,
      WebSocket: FakeSocket as never,
      token: () => Promise.reject(new WatchTokenExpired('the watch link expired')),
    });
    const errors: string[] = [];
    stream.on('error', (e) => errors.push(e.message));
    stream.start();
    expect(await stream.finished()).toBeNull();
    expect(errors).toEqual(['the watch token of job 1 expired: the watch link expired']);
  });
});
