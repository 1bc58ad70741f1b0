import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { GatewayContext } from '../../gateway/context.js';
import { uWS, type TemplatedApp } from '../../gateway/uws.js';
import type { JobSocket } from '../../gateway/ws/job-socket.js';
import { registerScrapingSocket } from '../../gateway/ws/scraping-socket.js';
import type { JobEventLog } from '../../shared/redis/job-event-log.js';

/*
 * The upgrade, open, message and close handlers of WS /ws/scraping/{id}, called as uWS calls
 * them, with stand-ins for its request, response and socket. What a real client sees of them is
 * tested against a running gateway (gateway-socket, gateway-limits).
 */

type Behavior = Record<string, any>;

function endpoint(over: { allowedOrigins?: string[]; draining?: boolean } = {}) {
  let behavior: Behavior = {};
  let path = '';
  const app = {
    ws: (p: string, b: Behavior) => {
      path = p;
      behavior = b;
    },
  } as unknown as TemplatedApp;
  const attaches: { jobId: number; socket: JobSocket; shareable: boolean; serve: () => Promise<unknown> }[] = [];
  const detaches: { jobId: number; socket: JobSocket }[] = [];
  const reads: (number | undefined)[] = [];
  const upgrades: string[] = [];
  const ctx = {
    metrics: { upgrade: (outcome: string) => upgrades.push(outcome) },
    config: { gateway: { allowedOrigins: over.allowedOrigins ?? [], maxBackpressureBytes: 1000, idleTimeoutSeconds: 33 }, limits: { messagesPerSecond: 20 } },
    // Access control off and every limit open: what they add is tested in access-control and limits.
    auth: { enabled: false, authorizeJobRead: () => ({ ok: true, principal: { kind: 'open' } }) },
    limits: { admitUpgradeNow: () => 'allowed', releaseConnection: () => undefined, chargeReplay: () => undefined, mayReplay: async () => ({ ok: true }) },
    clientIp: { of: () => '127.0.0.1' },
    log: pino({ level: 'silent' }),
    channels: {
      attach: (jobId: number, socket: JobSocket, serve: () => Promise<unknown>, options: { shareable: boolean }) => {
        attaches.push({ jobId, socket, serve, shareable: options.shareable });
        return Promise.resolve(true);
      },
      detach: (jobId: number, socket: JobSocket) => detaches.push({ jobId, socket }),
    },
    eventLog: {
      read: async (_jobId: number, afterSeq?: number) => {
        reads.push(afterSeq);
        return { state: { job_id: 3, seq: 9, epoch: 'E', status: 'running', results_count: 0, event_type: 'job_progress', updated_at: 't' }, history: [] };
      },
    } as unknown as JobEventLog,
    state: { connections: 0, connectionsOpened: 0, slowConsumersClosed: 0, draining: over.draining ?? false, startedAt: 0 },
  } as unknown as GatewayContext;
  registerScrapingSocket(app, ctx);
  return { behavior, path, ctx, attaches, detaches, reads, upgrades };
}

function upgradeRequest(behavior: Behavior, param: string, query: Record<string, string> = {}, headers: Record<string, string> = {}) {
  const queryString = new URLSearchParams(query).toString();
  const req = {
    getHeader: (name: string) => headers[name] ?? '',
    getQuery: (name?: string) => (name === undefined ? queryString : (query[name] ?? '')),
    getParameter: () => param,
  };
  const res = {
    upgraded: null as null | { data: { socket: JobSocket }; key: string; protocol: string; extensions: string; context: unknown },
    status: '',
    body: '',
    onAborted() {},
    cork(fn: () => void) {
      fn();
    },
    writeStatus(status: string) {
      this.status = status;
      return this;
    },
    writeHeader() {
      return this;
    },
    end(body: string) {
      this.body = body;
    },
    upgrade(data: { socket: JobSocket }, key: string, protocol: string, extensions: string, context: unknown) {
      this.upgraded = { data, key, protocol, extensions, context };
    },
  };
  behavior.upgrade(res, req, 'ctx');
  return res;
}

/** A resume is admitted asynchronously (its replay budget is asked of Redis): let it finish. */
const admitted = () => new Promise((resolve) => setImmediate(resolve));

function fakeWs(socket: JobSocket) {
  const sent: { data: string; binary: boolean }[] = [];
  return {
    sent,
    getUserData: () => ({ socket }),
    send: (data: string, binary: boolean) => sent.push({ data, binary }),
  };
}

describe('WS /ws/scraping/:job_id', () => {
  it('is registered with the documented limits', () => {
    const { behavior, path } = endpoint();
    expect(path).toBe('/ws/scraping/:job_id');
    expect(behavior).toMatchObject({
      // permessage-deflate for clients that offer it: WS_COMPRESSION, uWS' shared compressor by default.
      compression: uWS.SHARED_COMPRESSOR,
      maxPayloadLength: 4 * 1024,
      idleTimeout: 33,
      sendPingsAutomatically: true,
      maxBackpressure: 1000,
      closeOnBackpressureLimit: 1,
    });
  });

  it('upgrades a plain job id without a resume point, passing the handshake headers on', () => {
    const { behavior, upgrades } = endpoint();
    const res = upgradeRequest(behavior, '42', {}, { 'sec-websocket-key': 'k', 'sec-websocket-protocol': 'p', 'sec-websocket-extensions': 'e' });
    expect(upgrades).toEqual(['accepted']);
    expect(res.upgraded).toMatchObject({ key: 'k', protocol: 'p', extensions: 'e', context: 'ctx' });
    const socket = res.upgraded!.data.socket;
    expect([socket.jobId, socket.resume, socket.connNo]).toEqual([42, null, 1]);
  });

  it('reads the resume point from last_seq and epoch', async () => {
    const { behavior } = endpoint();
    const withEpoch = upgradeRequest(behavior, '42', { last_seq: '17', epoch: '123' });
    const withoutEpoch = upgradeRequest(behavior, '42', { last_seq: '0' });
    await admitted();
    expect(withEpoch.upgraded!.data.socket.resume).toEqual({ lastSeq: 17, epoch: '123' });
    expect(withoutEpoch.upgraded!.data.socket.resume).toEqual({ lastSeq: 0, epoch: null });
    expect(upgradeRequest(behavior, '42', { other: 'x' }).upgraded!.data.socket.resume).toBeNull();
  });

  it.each([
    ['a job id that is not a positive integer', '0', {}, 'BAD_JOB_ID', 'job id must be a positive integer, got "0"'],
    ['a job id with a query', 'abc', { last_seq: '1' }, 'BAD_JOB_ID', 'job id must be a positive integer, got "abc"'],
    ['a bad job id and a bad last_seq', 'x', { last_seq: 'y' }, 'BAD_JOB_ID', 'job id must be a positive integer, got "x"'],
    ['a last_seq that is not a whole number', '5', { last_seq: '-1' }, 'BAD_RESUME_POINT', 'last_seq: must be a whole number'],
    ['a last_seq of 16 digits', '5', { last_seq: '1234567890123456' }, 'BAD_RESUME_POINT', 'last_seq: must be a whole number'],
    ['a malformed epoch', '5', { last_seq: '1', epoch: 'abc' }, 'BAD_RESUME_POINT', 'epoch: must be the epoch a previous event carried'],
    ['an epoch with a tail', '5', { last_seq: '1', epoch: '123abc' }, 'BAD_RESUME_POINT', 'epoch: must be the epoch a previous event carried'],
    ['an epoch with a head', '5', { last_seq: '1', epoch: 'abc123' }, 'BAD_RESUME_POINT', 'epoch: must be the epoch a previous event carried'],
    ['an epoch of 25 digits', '5', { last_seq: '1', epoch: '1'.repeat(25) }, 'BAD_RESUME_POINT', 'epoch: must be the epoch a previous event carried'],
    ['a bad last_seq and a bad epoch', '5', { last_seq: 'x', epoch: 'y' }, 'BAD_RESUME_POINT', 'last_seq: must be a whole number; epoch: must be the epoch a previous event carried'],
  ])('refuses %s with 400', (_what, param, query, code, message) => {
    const { behavior, upgrades } = endpoint();
    const res = upgradeRequest(behavior, param, query);
    expect(res.upgraded).toBeNull();
    expect(res.status).toBe('400 Bad Request');
    expect(JSON.parse(res.body)).toEqual({ error: { code, message } });
    expect(upgrades).toEqual(['bad_request']);
  });

  it('refuses every upgrade with 503 while draining', () => {
    const { behavior, upgrades } = endpoint({ draining: true });
    const res = upgradeRequest(behavior, '5');
    expect(upgrades).toEqual(['draining']);
    expect(res.upgraded).toBeNull();
    expect(res.status).toBe('503 Service Unavailable');
    expect(JSON.parse(res.body)).toEqual({ error: { code: 'DRAINING', message: 'gateway is shutting down; connect again' } });
  });

  it('refuses a browser origin outside ALLOWED_ORIGINS with 403, and accepts listed origins and clients without one', () => {
    const { behavior, upgrades } = endpoint({ allowedOrigins: ['https://ok.example'] });
    const refused = upgradeRequest(behavior, '5', {}, { origin: 'https://evil.example' });
    expect(upgrades).toEqual(['forbidden']);
    expect(refused.status).toBe('403 Forbidden');
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'ORIGIN_NOT_ALLOWED', message: 'origin https://evil.example is not allowed' } });
    expect(upgradeRequest(behavior, '5', {}, { origin: 'https://ok.example' }).upgraded).not.toBeNull();
    expect(upgradeRequest(behavior, '5').upgraded).not.toBeNull();
    expect(upgradeRequest(endpoint().behavior, '5', {}, { origin: 'https://any.example' }).upgraded).not.toBeNull();
  });

  it('on open counts the connection and attaches the socket to its job; a plain joiner may share a snapshot', async () => {
    const { behavior, ctx, attaches, reads } = endpoint();
    const plain = upgradeRequest(behavior, '3').upgraded!.data.socket;
    const ws = fakeWs(plain);
    behavior.open(ws);
    expect(ctx.state).toMatchObject({ connections: 1, connectionsOpened: 1 });
    expect(plain.ws).toBe(ws);
    expect(attaches).toMatchObject([{ jobId: 3, shareable: true }]);
    expect(attaches[0]!.socket).toBe(plain);
    await attaches[0]!.serve();
    expect(reads).toEqual([undefined]);

    const resumingRes = upgradeRequest(behavior, '3', { last_seq: '9' });
    await admitted();
    const resuming = resumingRes.upgraded!.data.socket;
    expect(resuming.connNo).toBe(2);
    behavior.open(fakeWs(resuming));
    expect(attaches[1]!.shareable).toBe(false);
    expect(await attaches[1]!.serve()).toEqual({ frames: [], servedSeq: 9 });
    expect(reads).toEqual([undefined, 9]);
  });

  it('answers the text "ping" with "pong" and anything else with UNKNOWN_MESSAGE', () => {
    const { behavior } = endpoint();
    const ws = fakeWs(upgradeRequest(behavior, '3').upgraded!.data.socket);
    const bytes = (text: string) => new TextEncoder().encode(text).buffer;
    behavior.message(ws, bytes('ping'), false);
    behavior.message(ws, bytes('ping'), true);
    behavior.message(ws, bytes('pong'), false);
    behavior.message(ws, bytes('ping!'), false);
    expect(ws.sent[0]).toEqual({ data: 'pong', binary: false });
    expect(ws.sent.slice(1).map((s) => JSON.parse(s.data).error.code)).toEqual(['UNKNOWN_MESSAGE', 'UNKNOWN_MESSAGE', 'UNKNOWN_MESSAGE']);
    expect(ws.sent.every((s) => !s.binary), 'text frames').toBe(true);
    expect(JSON.parse(ws.sent[1]!.data).error.message).toBe('this endpoint understands only the text "ping"');
  });

  it('passes drain to the socket, and on close uncounts, marks and detaches it', async () => {
    const { behavior, ctx, detaches } = endpoint();
    const socket = upgradeRequest(behavior, '3').upgraded!.data.socket;
    const ws = fakeWs(socket);
    behavior.open(ws);
    let woke = false;
    socket.drained = () => {
      woke = true;
    };
    behavior.drain(ws);
    expect(woke).toBe(true);
    behavior.close(ws, 1000);
    expect(ctx.state.connections).toBe(0);
    expect([socket.closed, socket.ws]).toEqual([true, null]);
    expect(detaches).toEqual([{ jobId: 3, socket }]);
  });

  it('paces catch-ups at half the backpressure limit', async () => {
    const { behavior } = endpoint(); // WS_MAX_BACKPRESSURE_BYTES 1000
    const socket = upgradeRequest(behavior, '3').upgraded!.data.socket;
    const sent: string[] = [];
    let buffered = 501;
    socket.ws = { cork: (fn: () => void) => fn(), send: (f: string) => (sent.push(f), 1), getBufferedAmount: () => buffered, end: () => undefined } as never;
    const done = socket.sendPaced(['a']);
    await Promise.resolve();
    expect(sent, 'waits: 501 bytes queued is above half of 1000').toEqual([]);
    buffered = 500;
    socket.drained();
    await done;
    expect(sent).toEqual(['a']);
  });

  it('counts a socket the gateway closed as a slow consumer', () => {
    const { behavior, ctx } = endpoint();
    const socket = upgradeRequest(behavior, '3').upgraded!.data.socket;
    const ws = { ...fakeWs(socket), cork: (fn: () => void) => fn(), send: () => 2, end: () => undefined };
    socket.ws = ws as never;
    socket.send(['x']);
    expect(ctx.state.slowConsumersClosed).toBe(1);
  });
});
