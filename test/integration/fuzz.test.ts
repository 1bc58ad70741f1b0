import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AUTH_ON, createKey, postJob } from '../helpers/auth.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { rawExchange, statusCodes } from '../helpers/raw-http.js';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { httpJson } from '../helpers/ws-client.js';

/** Each property runs for at most this long (and at most its numRuns): the suite stays fast. */
const TIME_LIMIT_MS = 4000;
const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

/** Visible ASCII and spaces: what fetch accepts in a header value. */
const headerValue = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 300 });

describe('generated garbage never hurts the gateway (fast-check)', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let gateway: ServiceProcess;
  let port: number;
  let base: string;
  let key: string;
  let job: { job_id: number; watch_token: string };
  let rssStart: number;

  const rowCount = async () => Number((await database.db.selectFrom('scraping_jobs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    key = await createKey(database.url, 'fuzzer');
    gateway = await startService('gateway', serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }, { ...AUTH_ON, PORT: '0', MAX_BODY_BYTES: '4096' }));
    port = await gatewayPort(gateway);
    base = `http://127.0.0.1:${port}`;
    job = (await postJob(base, key)).body;
    rssStart = rssKb(gateway.pid);
  });
  afterAll(async () => {
    await gateway?.stop();
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  it('POST /api/jobs: garbage bodies, content types and credentials get a clear 4xx and write nothing', async () => {
    const before = await rowCount();
    const body = fc.oneof(
      fc.string({ maxLength: 600 }),
      fc.json({ maxDepth: 3 }),
      fc.uint8Array({ maxLength: 6000 }).map((b) => Buffer.from(b)),
      fc.record({ origins: fc.array(fc.string({ maxLength: 5 }), { maxLength: 12 }), destinations: fc.array(fc.string({ maxLength: 5 })), date_ranges: fc.anything() }).map((o) => JSON.stringify(o)),
    );
    const credentials = fc.oneof(fc.constant(`Bearer ${key}`), fc.constant(''), headerValue, headerValue.map((v) => `Bearer ${v}`));
    await fc.assert(
      fc.asyncProperty(body, fc.oneof(fc.constant('application/json'), headerValue), credentials, fc.option(headerValue), async (payload, contentType, authorization, idempotencyKey) => {
        const headers: Record<string, string> = { 'content-type': contentType };
        if (authorization) headers.authorization = authorization;
        if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
        const response = await fetch(`${base}/api/jobs`, { method: 'POST', headers, body: payload as BodyInit });
        const text = await response.text();
        // A body that happens to be a valid job with a valid key is fine; nothing else may pass.
        if (response.status === 202) return;
        expect([400, 401, 413, 415, 422, 429]).toContain(response.status);
        const error = JSON.parse(text).error;
        expect(error.code).toMatch(/^[A-Z_]+$/);
        expect(error.message.length).toBeGreaterThan(0);
        expect(text).not.toContain(key);
      }),
      { numRuns: 300, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
    // Raw bytes straight onto the socket: answered 4xx or closed, never a crash.
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 2000 }), async (bytes) => {
        const { text } = await rawExchange(port, Buffer.concat([Buffer.from('POST /api/jobs HTTP/1.1\r\n'), Buffer.from(bytes)]), { waitMs: 150 });
        for (const status of statusCodes(text)) expect(status).toBeGreaterThanOrEqual(400);
      }),
      { numRuns: 60, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
    expect(await rowCount()).toBe(before + 0);
    expect(gateway.running).toBe(true);
  });

  it('upgrade: garbage paths, query strings and tokens are refused or told the job is unknown', async () => {
    const pathPart = fc.string({ unit: fc.constantFrom(...'0123456789abc%./-_~!$&()*+,;=:@'.split('')), maxLength: 40 });
    const tokenLike = fc.oneof(
      fc.constant(job.watch_token),
      fc.constant(job.watch_token.slice(0, -3) + 'abc'),
      fc.string({ unit: fc.constantFrom(...'ABCxyz019-_.'.split('')), maxLength: 400 }),
      fc.constant(`${job.watch_token.split('.')[0]}..`),
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(pathPart, fc.constant(String(job.job_id)), fc.nat().map(String)), pathPart, tokenLike, async (id, query, token) => {
        const path = `/ws/scraping/${id}?${query}&token=${encodeURIComponent(token)}`;
        const request =
          `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
        const { text } = await rawExchange(port, request, { waitMs: 200 });
        const [status] = statusCodes(text);
        if (status === undefined) return; // closed without an answer (uWS refused the request line)
        expect([101, 400, 401, 404, 429]).toContain(status);
        if (status === 101) expect(String(job.job_id) === id || /Job \d+ not found/.test(text)).toBe(true);
        expect(text).not.toContain(key);
      }),
      { numRuns: 300, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
    expect(gateway.running).toBe(true);
  });

  it('open sockets: text and binary frames of any size, invalid UTF-8 and floods close only the sender', async () => {
    const url = `ws://127.0.0.1:${port}/ws/scraping/${job.job_id}?token=${job.watch_token}`;
    const bystander = new WebSocket(url);
    await new Promise((resolve, reject) => bystander.once('open', resolve).once('error', reject));
    const frame = fc.oneof(
      fc.string({ maxLength: 200 }).map((s) => ({ data: Buffer.from(s), binary: false })),
      fc.uint8Array({ maxLength: 9000 }).map((b) => ({ data: Buffer.from(b), binary: true })),
      // Raw bytes sent as a text frame: invalid UTF-8 more often than not.
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => ({ data: Buffer.from(b), binary: false })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 40 }), async (frames) => {
        const ws = new WebSocket(url);
        await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
        const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
        ws.on('error', () => undefined);
        for (const f of frames) if (ws.readyState === WebSocket.OPEN) ws.send(f.data, { binary: f.binary });
        const code = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(0), 100))]);
        // Open, or closed with a code that says why: 1007 bad UTF-8, 1008 flood, 1009 too big, 1006 dropped.
        expect([0, 1006, 1007, 1008, 1009]).toContain(code);
        ws.terminate();
      }),
      { numRuns: 100, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
    // The bystander on the same job was never touched.
    expect(bystander.readyState).toBe(WebSocket.OPEN);
    const pong = new Promise((resolve) => bystander.once('message', (d) => resolve(d.toString())));
    bystander.send('ping');
    expect(await pong).not.toBeUndefined();
    bystander.close();
  });

  it('is still healthy afterwards, with its memory bounded', async () => {
    expect(gateway.running).toBe(true);
    expect((await httpJson(`${base}/health`)).status).toBe(200);
    const grownMb = (rssKb(gateway.pid) - rssStart) / 1024;
    expect(grownMb).toBeLessThan(64);
  });
});
