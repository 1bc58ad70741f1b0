import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ScoutClient, type MuxWebSocketConstructor } from '../../shared/client/scout-client.js';
import { AUTH_ON, createKey, postJob } from '../helpers/auth.js';
import { progress } from '../helpers/drafts.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { httpJson } from '../helpers/ws-client.js';

/*
 * A ScoutClient subscription outlives its first watch token: with WATCH_TOKEN_TTL_SECONDS at its
 * minimum (10), the token from POST /api/jobs has expired by the time the connection is dropped;
 * with a token function the resubscribe after the reconnect gets a fresh token and the job's
 * events carry on, without one the subscription ends with TOKEN_EXPIRED.
 */

const TTL_SECONDS = 10;

describe('ScoutClient across an expired watch token', () => {
  let f: GatewayFixture;
  let key: string;
  beforeAll(async () => {
    f = await startGatewayFixture({ ...AUTH_ON, WATCH_TOKEN_TTL_SECONDS: String(TTL_SECONDS) });
    key = await createKey(f.database.url, 'watcher');
  });
  afterAll(() => f?.close());

  it('resubscribes with a fresh token from its token function after a reconnect; without one, a clear TOKEN_EXPIRED', async () => {
    const base = `http://${f.host}`;
    const { body: job } = await postJob(base, key);
    const expiresAt = Date.parse(job.watch_token_expires_at);
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(TTL_SECONDS * 1000);

    // The token function: the token the job came with, then fresh ones minted with the owner's key.
    const minted: string[] = [];
    const fresh = async () => {
      if (minted.length === 0) return minted.push(job.watch_token), job.watch_token as string;
      const answer = await httpJson(`${base}/api/jobs/${job.job_id}/watch-tokens`, { method: 'POST', headers: { authorization: `Bearer ${key}` } });
      expect(answer.status).toBe(201);
      minted.push(answer.body.watch_token);
      return answer.body.watch_token as string;
    };
    const options = { baseUrl: base, WebSocket: WebSocket as unknown as MuxWebSocketConstructor, sseFallbackAfter: Number.POSITIVE_INFINITY, backoff: { baseMs: 50, maxMs: 200 } };
    const withFunction = new ScoutClient(options);
    const withString = new ScoutClient(options);
    const a = withFunction.subscribe(job.job_id, { token: fresh });
    const b = withString.subscribe(job.job_id, { token: job.watch_token });
    const seen = { a: [] as number[], b: [] as number[] };
    const errors = { a: [] as { code: string; message: string }[], b: [] as { code: string; message: string }[] };
    a.on('event', (e) => seen.a.push(e.seq));
    b.on('event', (e) => seen.b.push(e.seq));
    a.on('error', (e) => errors.a.push(e));
    b.on('error', (e) => errors.b.push(e));

    const log = f.eventLog();
    await expect.poll(() => withFunction.status === 'open' && withString.status === 'open', { timeout: 5000 }).toBe(true);
    await new Promise((r) => setTimeout(r, 300)); // both subscribed (snapshot served)
    await log.append(job.job_id, progress(1));
    await expect.poll(() => [seen.a.includes(1), seen.b.includes(1)], { timeout: 5000 }).toEqual([true, true]);

    // Past the first token's expiry (exp has whole seconds), the connections drop.
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 1200));
    withFunction.dropConnection();
    withString.dropConnection();

    await expect.poll(() => errors.b.map((e) => e.code), { timeout: 10_000 }).toEqual(['TOKEN_EXPIRED']);
    expect(errors.b[0]!.message).toMatch(/watch token expired/);
    await expect.poll(() => minted.length, { timeout: 10_000 }).toBe(2);
    await new Promise((r) => setTimeout(r, 300)); // resubscribed with the fresh token
    await log.append(job.job_id, progress(2));
    await expect.poll(() => seen.a, { timeout: 5000 }).toEqual([1, 2]);
    expect(errors.a).toEqual([]);
    expect(seen.b).toEqual([1]);
    withFunction.close();
    withString.close();
  }, 40_000);
});
