import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { params } from '../helpers/jobs.js';
import { MuxTestClient } from '../helpers/mux-client.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { serviceEnv } from '../helpers/services.js';

/*
 * The per-address limits of the legacy upgrade (RATE_LIMIT_UPGRADES_PER_SECOND_PER_IP,
 * MAX_CONNECTIONS_PER_IP) on WS /ws and GET /sse/scraping/{id}: one budget per address across the
 * transports, the legacy path's 429 RATE_LIMITED with Retry-After, a /ws connection one slot however
 * many jobs it carries, and every way a stream ends giving its slot back. The client address is
 * X-Forwarded-For from a trusted proxy (the test itself, 127.0.0.1).
 */

const RATE = 5;
const SLOTS = 8;
const LIMITS_ENV = {
  TRUSTED_PROXIES: '127.0.0.1',
  RATE_LIMIT_UPGRADES_PER_SECOND_PER_IP: String(RATE),
  MAX_CONNECTIONS_PER_IP: String(SLOTS),
};

type Outcome = { result: 'open' | number; code: string | null; retryAfter: string | null; message: string | null; close(): void };

/** A WS /ws upgrade from `address`: open (subscribing `jobs`, each answered), or the refusal. */
/** A burst past the rate: some refused, each with 429 RATE_LIMITED and Retry-After; the refusals. */
function expectRateRefusals<T extends Outcome>(burst: T[]): T[] {
  const refused = burst.filter((b) => b.result !== 'open');
  // Fixed one-second windows: a burst straddling a boundary may use two of them, no more.
  expect(burst.filter((b) => b.result === 'open').length).toBeLessThanOrEqual(2 * RATE);
  expect(refused.length).toBeGreaterThan(0);
  for (const r of refused) {
    expect(r).toMatchObject({ result: 429, code: 'RATE_LIMITED' });
    expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
  }
  return refused;
}

async function openMux(host: string, address: string, jobs: number[] = []): Promise<Outcome & { client: MuxTestClient }> {
  const client = new MuxTestClient(`ws://${host}/ws`, { headers: { 'X-Forwarded-For': address } });
  try {
    await client.opened;
  } catch {
    const r = client.refusal;
    return { result: r?.status ?? 0, code: r?.code ?? null, retryAfter: r?.retryAfter ?? null, message: r?.message ?? null, client, close: () => undefined };
  }
  for (const job of jobs) client.subscribe(job);
  await client.waitFor(() => jobs.every((job) => client.controlsOf(job).some((c) => c.type === 'subscribed')), `${jobs.length} subscriptions`);
  return { result: 'open', code: null, retryAfter: null, message: null, client, close: () => client.close() };
}

/** A GET /sse/scraping/{job} from `address`: open (200 and its first bytes), or the refusal. */
async function openSse(host: string, address: string, job: number): Promise<Outcome> {
  const controller = new AbortController();
  const response = await fetch(`http://${host}/sse/scraping/${job}`, { headers: { 'X-Forwarded-For': address }, signal: controller.signal });
  if (response.status === 200) {
    const reader = response.body!.getReader();
    await reader.read(); // the response really streams (retry: and the snapshot)
    return { result: 'open', code: null, retryAfter: null, message: null, close: () => controller.abort() };
  }
  const body = (await response.json()) as { error?: { code?: string; message?: string } };
  return { result: response.status, code: body.error?.code ?? null, retryAfter: response.headers.get('retry-after'), message: body.error?.message ?? null, close: () => undefined };
}

const nextSecond = () => new Promise((r) => setTimeout(r, 1100));

describe('per-address limits on WS /ws and SSE', () => {
  let f: GatewayFixture;
  let jobs: number[];
  beforeAll(async () => {
    f = await startGatewayFixture(LIMITS_ENV);
    jobs = [];
    for (let i = 0; i < 5; i++) jobs.push((await insertPendingJob(f.database.db, params())).id);
  });
  afterAll(() => f?.close());

  it('refuses /ws upgrades past the rate of one address with 429 RATE_LIMITED and Retry-After; another address is not', async () => {
    await nextSecond();
    const burst = await Promise.all(Array.from({ length: 12 }, () => openMux(f.host, '10.0.1.1')));
    const refused = expectRateRefusals(burst);
    expect(refused.map((r) => r.message)).toContain(`at most ${RATE} streams a second per address (WebSocket upgrades and event-stream requests)`);
    const neighbour = await openMux(f.host, '10.0.1.2', [jobs[0]!]);
    expect(neighbour.result).toBe('open');
    for (const b of [...burst, neighbour]) b.close();
  });

  it('refuses SSE requests past the rate of one address the same way; another address is not', async () => {
    await nextSecond();
    const burst = await Promise.all(Array.from({ length: 12 }, () => openSse(f.host, '10.0.2.1', jobs[0]!)));
    expectRateRefusals(burst);
    const neighbour = await openSse(f.host, '10.0.2.2', jobs[0]!);
    expect(neighbour.result).toBe('open');
    for (const b of [...burst, neighbour]) b.close();
  });

  it('counts a /ws connection as one slot whatever it subscribes, SSE responses as one each; closing frees them', async () => {
    const A = '10.0.3.1';
    await nextSecond();
    // Second 1: one connection with five jobs, and four more connections: five slots.
    const many = await openMux(f.host, A, jobs);
    expect(many.result).toBe('open');
    expect(many.client.controls.filter((c) => c.type === 'subscribed')).toHaveLength(5);
    const sockets = await Promise.all(Array.from({ length: 4 }, () => openMux(f.host, A)));
    expect(sockets.map((s) => s.result)).toEqual(['open', 'open', 'open', 'open']);
    await nextSecond();
    // Second 2: three event streams: eight slots, the limit.
    const streams = await Promise.all(Array.from({ length: 3 }, (_, i) => openSse(f.host, A, jobs[i]!)));
    expect(streams.map((s) => s.result)).toEqual(['open', 'open', 'open']);
    await nextSecond();
    // Second 3: full, on both transports, with the legacy path's answer.
    const overWs = await openMux(f.host, A);
    const overSse = await openSse(f.host, A, jobs[0]!);
    for (const over of [overWs, overSse]) {
      expect(over).toMatchObject({ result: 429, code: 'RATE_LIMITED', message: `at most ${SLOTS} open streams per address (WebSockets and event streams)` });
      expect(Number(over.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    // Another address is not affected.
    const other = [await openMux(f.host, '10.0.3.2', [jobs[1]!]), await openSse(f.host, '10.0.3.2', jobs[1]!)];
    expect(other.map((o) => o.result)).toEqual(['open', 'open']);
    for (const o of other) o.close();

    // A /ws connection closed by its client frees its one slot: an event stream gets it.
    sockets.pop()!.close();
    await expect.poll(async () => {
      const s = await openSse(f.host, A, jobs[4]!);
      if (s.result === 'open') streams.push(s);
      return s.result;
    }, { timeout: 5000, interval: 250 }).toBe('open');
    // An event stream the client aborted frees its slot: a /ws connection gets it.
    streams.shift()!.close();
    await expect.poll(async () => {
      const s = await openMux(f.host, A);
      if (s.result === 'open') sockets.push(s);
      return s.result;
    }, { timeout: 5000, interval: 250 }).toBe('open');
    // The connection with five jobs is one slot: closing it admits exactly one more.
    many.close();
    await nextSecond();
    await expect.poll(async () => {
      const s = await openMux(f.host, A);
      if (s.result === 'open') sockets.push(s);
      return s.result;
    }, { timeout: 5000, interval: 250 }).toBe('open');
    await nextSecond();
    expect((await openMux(f.host, A)).result).toBe(429);
    for (const s of [...sockets, ...streams]) s.close();
  });

  it('gives the slot back when the gateway itself ends the response (an SSE refusal after admission)', async () => {
    const A = '10.0.4.1';
    // Three seconds of unknown jobs, each admitted, then refused 404: more requests than slots.
    const answers: (number | 'open')[] = [];
    for (let second = 0; second < 3; second++) {
      await nextSecond();
      for (let i = 0; i < RATE - 1; i++) answers.push((await openSse(f.host, A, 999_000 + i)).result);
    }
    expect(answers.length).toBeGreaterThan(SLOTS);
    expect(new Set(answers)).toEqual(new Set([404]));
  });
});

describe('per-address slots after a gateway drains', () => {
  let f: GatewayFixture;
  let second: ServiceProcess | undefined;
  afterAll(async () => {
    await second?.stop();
    await f?.close();
  });

  it('a draining gateway closes its /ws connections and event streams and gives their slots back to the address', async () => {
    f = await startGatewayFixture({ ...LIMITS_ENV, RATE_LIMIT_UPGRADES_PER_SECOND_PER_IP: '50', DRAIN_TIMEOUT_SECONDS: '2' });
    const job = (await insertPendingJob(f.database.db, params())).id;
    second = await startService('gateway', serviceEnv({ databaseUrl: f.database.url, keyPrefix: f.redis.keyPrefix }, { PORT: '0', ...LIMITS_ENV, RATE_LIMIT_UPGRADES_PER_SECOND_PER_IP: '50', DRAIN_TIMEOUT_SECONDS: '2' }), { name: 'gw-drained' });
    const secondHost = `127.0.0.1:${await gatewayPort(second)}`;
    const A = '10.0.5.1';
    const held = [
      ...(await Promise.all(Array.from({ length: 4 }, () => openMux(secondHost, A, [job])))),
      ...(await Promise.all(Array.from({ length: 4 }, () => openSse(secondHost, A, job)))),
    ];
    expect(held.map((h) => h.result)).toEqual(Array(8).fill('open'));
    // Both gateways share the address's count: the first one has nothing left for it.
    expect((await openMux(f.host, A)).result).toBe(429);
    const closes = held.flatMap((h) => ('client' in h ? [(h as { client: MuxTestClient }).client.closed] : []));
    await second.stop(); // SIGTERM: the drain closes everything (1001, the streams end)
    second = undefined;
    expect((await Promise.all(closes)).map((c) => c.code)).toEqual(Array(4).fill(1001));
    for (const h of held) h.close();
    const reopened = [
      ...(await Promise.all(Array.from({ length: 4 }, () => openMux(f.host, A)))),
      ...(await Promise.all(Array.from({ length: 4 }, () => openSse(f.host, A, job)))),
    ];
    expect(reopened.map((r) => r.result)).toEqual(Array(8).fill('open'));
    for (const r of reopened) r.close();
  });
});
