import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { AUTH_ON, createKey, postJob } from '../helpers/auth.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { params } from '../helpers/jobs.js';
import { MuxTestClient } from '../helpers/mux-client.js';
import { paddedProgress } from '../helpers/drafts.js';

/*
 * The legacy path's two remaining abuse limits on WS /ws and GET /sse/scraping/{id}:
 * WS_MESSAGES_PER_SECOND (a /ws connection may subscribe to MAX_SUBSCRIPTIONS_PER_CONNECTION jobs
 * in one burst; a flood is closed with 1008) and REPLAY_BYTES_PER_SECOND (a resume past the
 * holder's budget is a per-job RATE_LIMITED error on /ws, 429 with Retry-After on SSE; a snapshot
 * is never refused). Client addresses are X-Forwarded-For from a trusted proxy (the test, 127.0.0.1).
 */

const PER_SECOND = 20;
const MAX_SUBSCRIPTIONS = 100;


function openMux(host: string, address: string, query = ''): Promise<MuxTestClient> {
  const client = new MuxTestClient(`ws://${host}/ws${query}`, { headers: { 'X-Forwarded-For': address } });
  return client.opened.then(() => client);
}

const pongs = (client: MuxTestClient) => client.controls.filter((c) => c.type === 'pong').length;
const ping = (client: MuxTestClient) => client.ws.send(JSON.stringify({ type: 'ping' }));

describe('WS_MESSAGES_PER_SECOND on WS /ws', () => {
  let f: GatewayFixture;
  let jobs: number[];
  beforeAll(async () => {
    f = await startGatewayFixture({
      TRUSTED_PROXIES: '127.0.0.1',
      WS_MESSAGES_PER_SECOND: String(PER_SECOND),
      MAX_SUBSCRIPTIONS_PER_CONNECTION: String(MAX_SUBSCRIPTIONS),
    });
    jobs = [];
    for (let i = 0; i < MAX_SUBSCRIPTIONS; i++) jobs.push((await insertPendingJob(f.database.db, params())).id);
  });
  afterAll(() => f?.close());

  it('keeps a client that subscribes to its whole allowance of jobs at once, then pings within the rate', async () => {
    const client = await openMux(f.host, '10.1.0.1');
    for (const job of jobs) client.subscribe(job); // 100 messages in one burst, plus the rate's 20
    for (let i = 0; i < PER_SECOND; i++) ping(client);
    await client.waitFor(() => jobs.every((job) => client.controlsOf(job).some((c) => c.type === 'subscribed')), `${jobs.length} subscriptions`);
    await client.waitFor(() => pongs(client) === PER_SECOND, 'burst pongs');
    // The burst is spent; the rate refills it (20 a second): 15 a second from then on, for three seconds.
    for (let second = 0; second < 3; second++) {
      await new Promise((r) => setTimeout(r, 1000));
      for (let i = 0; i < 15; i++) ping(client);
    }
    await client.waitFor(() => pongs(client) === PER_SECOND + 45, 'steady pongs');
    expect(client.ws.readyState).toBe(client.ws.OPEN);
    expect(client.controls.filter((c) => c.type === 'error')).toEqual([]);
    client.close();
  });

  it('closes a flooding client with 1008 and the legacy reason; a neighbour from the same address carries on', async () => {
    const flooder = await openMux(f.host, '10.1.0.2');
    const neighbour = await openMux(f.host, '10.1.0.2');
    neighbour.subscribe(jobs[0]!);
    await neighbour.waitFor(() => neighbour.controlsOf(jobs[0]!).some((c) => c.type === 'subscribed'), 'neighbour subscribed');
    for (let i = 0; i < 300; i++) ping(flooder);
    const closed = await flooder.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toBe(`more than ${PER_SECOND} messages a second (after a burst of ${PER_SECOND + MAX_SUBSCRIPTIONS})`);
    // The gateway answered the allowance and no more.
    expect(pongs(flooder)).toBeLessThanOrEqual(PER_SECOND + MAX_SUBSCRIPTIONS + 5);
    ping(neighbour);
    await neighbour.waitFor(() => pongs(neighbour) === 1, 'neighbour pong');
    await f.eventLog().append(jobs[0]!, paddedProgress(1));
    await neighbour.waitFor(() => neighbour.eventsOf(jobs[0]!).some((e) => e.seq === 1), 'neighbour event');
    neighbour.close();
  });

  it('counts every message, subscribes and unsubscribes too: a subscribe/unsubscribe storm is closed', async () => {
    const client = await openMux(f.host, '10.1.0.3');
    for (let i = 0; i < 200; i++) {
      client.subscribe(jobs[1]!);
      client.unsubscribe(jobs[1]!);
    }
    expect((await client.closed).code).toBe(1008);
  });
});

/** GET /sse/scraping/{job}: the status, Retry-After and error code, or the body up to `until`. */
async function sse(host: string, address: string, path: string, headers: Record<string, string> = {}, until?: RegExp) {
  const controller = new AbortController();
  const response = await fetch(`http://${host}${path}`, { headers: { 'X-Forwarded-For': address, ...headers }, signal: controller.signal });
  if (response.status !== 200) {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    return { status: response.status, retryAfter: response.headers.get('retry-after'), code: body.error?.code ?? null, message: body.error?.message ?? null, text: '' };
  }
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + 10_000;
  while (!(until ?? /data: /).test(text) && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  controller.abort();
  return { status: 200, retryAfter: null, code: null, message: null, text };
}

describe('REPLAY_BYTES_PER_SECOND on WS /ws and SSE', () => {
  const BUDGET = 2048; // 20 kB over the 10 s window; a full replay of the job below is ~50 kB
  let f: GatewayFixture;
  let key: string;
  let big: { job_id: number; watch_token: string };
  let other: { job_id: number; watch_token: string };
  beforeAll(async () => {
    f = await startGatewayFixture({ ...AUTH_ON, TRUSTED_PROXIES: '127.0.0.1', REPLAY_BYTES_PER_SECOND: String(BUDGET) });
    key = await createKey(f.database.url, 'replayer');
    big = (await postJob(`http://${f.host}`, key)).body;
    other = (await postJob(`http://${f.host}`, key)).body;
    const log = f.eventLog();
    for (let i = 1; i <= 200; i++) await log.append(big.job_id, paddedProgress(i));
  });
  afterAll(() => f?.close());

  const subscribed = (client: MuxTestClient, job: number) => client.controlsOf(job).some((c) => c.type === 'subscribed');
  const errorsOf = (client: MuxTestClient, job: number) => client.controlsOf(job).filter((c) => c.type === 'error');

  it('/ws: a resume uses the budget; the next one is a per-job RATE_LIMITED, the connection and its other job carry on; a snapshot is served', async () => {
    const client = await openMux(f.host, '10.2.0.1');
    client.ws.send(JSON.stringify({ type: 'subscribe', job_id: other.job_id, token: other.watch_token }));
    client.ws.send(JSON.stringify({ type: 'subscribe', job_id: big.job_id, token: big.watch_token, last_seq: 0 }));
    await client.waitFor(() => subscribed(client, other.job_id) && client.eventsOf(big.job_id).some((e) => e.seq === 200), 'first resume replayed');
    expect(client.eventsOf(big.job_id)).toHaveLength(200);

    // The bytes are charged once served: resuming again soon after is refused, for this job only.
    let attempt = 0;
    await expect
      .poll(async () => {
        client.unsubscribe(big.job_id);
        client.ws.send(JSON.stringify({ type: 'subscribe', job_id: big.job_id, token: big.watch_token, last_seq: 150 }));
        attempt += 1;
        await client.waitFor(() => client.controlsOf(big.job_id).filter((c) => c.type === 'subscribed' || c.type === 'error').length > attempt, 'an answer');
        return errorsOf(client, big.job_id).length;
      }, { timeout: 3000, interval: 100 })
      .toBe(1);
    const [refusal] = errorsOf(client, big.job_id);
    expect(refusal).toMatchObject({ type: 'error', job_id: big.job_id, code: 'RATE_LIMITED' });
    expect(refusal!.message).toBe(`replay budget used up: at most ${BUDGET} bytes a second of history per client`);
    expect(refusal!.retry_after).toBeGreaterThanOrEqual(1);
    expect(refusal!.retry_after).toBeLessThanOrEqual(10);

    // The connection is open and its other job live.
    await f.eventLog().append(other.job_id, paddedProgress(1));
    await client.waitFor(() => client.eventsOf(other.job_id).some((e) => e.seq === 1), 'the other job live');
    // A fresh subscription (a snapshot, no replay) is not refused.
    client.ws.send(JSON.stringify({ type: 'subscribe', job_id: big.job_id, token: big.watch_token }));
    await client.waitFor(() => client.eventsOf(big.job_id).some((e) => e.metadata.snapshot === true && e.seq === 200), 'snapshot');
    expect(errorsOf(client, big.job_id)).toHaveLength(1);
    expect(client.ws.readyState).toBe(client.ws.OPEN);
    client.close();
  });

  it('SSE: the same holder (the key behind the token, from any address) is refused 429 with Retry-After; a snapshot is served', async () => {
    const path = (token: string) => `/sse/scraping/${big.job_id}?token=${token}`;
    // Another address, the same key: the budget spent on /ws above (or now) is the key's.
    await expect
      .poll(async () => {
        const r = await sse(f.host, '10.2.0.2', path(big.watch_token), { 'Last-Event-ID': '150' }, /^id: (?:\d+:)?200$/m);
        return r.status;
      }, { timeout: 3000, interval: 100 })
      .toBe(429);
    const viaHeader = await sse(f.host, '10.2.0.3', path(big.watch_token), { 'Last-Event-ID': '150' });
    const viaQuery = await sse(f.host, '10.2.0.3', `${path(big.watch_token)}&last_event_id=150`);
    for (const r of [viaHeader, viaQuery]) {
      expect(r).toMatchObject({ status: 429, code: 'RATE_LIMITED', message: `replay budget used up: at most ${BUDGET} bytes a second of history per client` });
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    const snapshot = await sse(f.host, '10.2.0.3', path(big.watch_token));
    expect(snapshot.status).toBe(200);
    expect(snapshot.text).toContain('"snapshot":true');
  });

  it('SSE resumes use the budget too: after one, a /ws resume of the same key is refused', async () => {
    // A key of its own, with a fresh budget.
    const own = await createKey(f.database.url, 'sse-replayer');
    const job = (await postJob(`http://${f.host}`, own)).body;
    const log = f.eventLog();
    for (let i = 1; i <= 200; i++) await log.append(job.job_id, paddedProgress(i));
    const first = await sse(f.host, '10.2.1.1', `/sse/scraping/${job.job_id}?token=${job.watch_token}&last_event_id=0`, {}, /^id: (?:\d+:)?200$/m);
    expect(first.status).toBe(200);
    expect(first.text.match(/^event: job_progress$/gm)).toHaveLength(200);
    const client = await openMux(f.host, '10.2.1.2');
    let attempt = 0;
    await expect
      .poll(async () => {
        if (attempt > 0) client.unsubscribe(job.job_id);
        client.ws.send(JSON.stringify({ type: 'subscribe', job_id: job.job_id, token: job.watch_token, last_seq: 190 }));
        attempt += 1;
        await client.waitFor(() => client.controlsOf(job.job_id).filter((c) => c.type === 'subscribed' || c.type === 'error').length >= attempt, 'an answer');
        return errorsOf(client, job.job_id).map((e) => e.code);
      }, { timeout: 3000, interval: 100 })
      .toEqual(['RATE_LIMITED']);
    client.close();
  });
});
