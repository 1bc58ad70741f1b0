import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTH_ON, createKey, forgeToken, JOB_BODY, postJob } from '../helpers/auth.js';
import { startLoadBalancer, type LoadBalancer } from '../helpers/haproxy.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { rawExchange, rawPost, statusCodes } from '../helpers/raw-http.js';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { httpJson, RecordingClient } from '../helpers/ws-client.js';

/** Findings of probing the running system, each fixed: framing, pipelining, idempotency, forwarded headers, query cost. */
describe('HTTP hardening (auth on, HAProxy in front)', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let gateway: ServiceProcess;
  let lb: LoadBalancer;
  let port: number;
  let key: string;

  const rowCount = async () => Number((await database.db.selectFrom('scraping_jobs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const authorization = () => ({ Authorization: `Bearer ${key}` });

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    key = await createKey(database.url, 'prober');
    gateway = await startService(
      'gateway',
      serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }, { ...AUTH_ON, PORT: '0', TRUSTED_PROXIES: '127.0.0.1' }),
    );
    port = await gatewayPort(gateway);
    lb = await startLoadBalancer([`127.0.0.1:${port}`]);
  });
  afterAll(async () => {
    await lb?.stop();
    await gateway?.stop();
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  it('gives the same job for the same Idempotency-Key and body, 422 for another body', async () => {
    const headers = { 'Idempotency-Key': 'order-7f3a' };
    const first = await postJob(`http://127.0.0.1:${port}`, key, JOB_BODY, headers);
    const again = await postJob(`http://127.0.0.1:${lb.port}`, key, JOB_BODY, headers);
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body.job_id).toBe(first.body.job_id);
    const other = await postJob(`http://127.0.0.1:${port}`, key, { ...JOB_BODY, destinations: ['LIS'] }, headers);
    expect(other).toMatchObject({ status: 422, body: { error: { code: 'IDEMPOTENCY_KEY_REUSED' } } });
    expect(await rowCount()).toBe(1);
  });

  it('answers each of two pipelined POSTs through the load balancer, and writes nothing for a connection it drops', async () => {
    const body = JSON.stringify(JOB_BODY);
    const before = await rowCount();
    const viaLb = await rawExchange(lb.port, rawPost(body, authorization()) + rawPost(body, { ...authorization(), Connection: 'close' }), { waitMs: 3000 });
    expect(statusCodes(viaLb.text)).toEqual([202, 202]);
    expect(await rowCount()).toBe(before + 2);

    // Direct: uWebSockets.js drops a connection that pipelines a request behind one still being
    // answered. The client gets no answer — and so nothing may have been done.
    const direct = await rawExchange(port, rawPost(body, authorization()) + rawPost(body, authorization()), { waitMs: 1500 });
    await new Promise((r) => setTimeout(r, 300));
    const answered = statusCodes(direct.text).filter((s) => s === 202).length;
    expect(await rowCount()).toBe(before + 2 + answered);
  });

  it('refuses two differing Content-Length headers with 400, directly and at the load balancer, writing nothing', async () => {
    const body = JSON.stringify(JOB_BODY);
    const smuggled = rawPost(body, { ...authorization(), 'Content-Length': String(body.length) }).replace('\r\n\r\n', `\r\nContent-Length: 5\r\n\r\n`);
    const before = await rowCount();
    for (const target of [port, lb.port]) {
      const { text } = await rawExchange(target, smuggled);
      expect(statusCodes(text)[0], `port ${target}`).toBe(400);
    }
    expect(await rowCount()).toBe(before);
  });

  it('takes X-Forwarded-Host/-Proto from the load balancer only, never from a client', async () => {
    const forged = { ...authorization(), 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https', Connection: 'close' };
    const direct = await rawExchange(port, rawPost(JSON.stringify(JOB_BODY), forged), { localAddress: '127.0.0.2' });
    expect(direct.text).toContain('"ws_url":"ws://scout.test/ws/scraping/');
    const viaLb = await rawExchange(lb.port, rawPost(JSON.stringify(JOB_BODY), forged));
    expect(viaLb.text).toContain('"ws_url":"ws://scout.test/ws/scraping/');
    expect(direct.text + viaLb.text).not.toContain('evil.example');
  });

  it('does not tell the server software through the load balancer (uWebSockets header stripped)', async () => {
    const direct = await fetch(`http://127.0.0.1:${port}/health`);
    const viaLb = await fetch(`http://127.0.0.1:${lb.port}/health`);
    expect(direct.headers.get('uwebsockets')).toBe('20'); // the npm build writes it; the LB removes it
    expect(viaLb.headers.get('uwebsockets')).toBeNull();
    const health = await viaLb.json();
    expect(Object.keys(health).sort()).toEqual(['checks', 'draining', 'failing', 'gateway_id', 'status']);
    expect(health.checks).toEqual({ redis: { ok: true }, postgres: { ok: true } });
  });

  it('refuses unauthenticated upgrades before any database work, and answers unknown jobs without a query each', async () => {
    const lookups = async () => (await httpJson(`http://127.0.0.1:${port}/ws/stats`)).body.join_postgres_lookups as number;
    const start = await lookups();
    for (let i = 0; i < 100; i++) {
      const client = new RecordingClient(`ws://127.0.0.1:${port}/ws/scraping/${1000 + i}`);
      await expect(client.opened).rejects.toThrow('HTTP 401');
    }
    expect(await lookups()).toBe(start);
    const unknown = 1_999_999_999;
    const token = await forgeToken({ job: unknown, own: 1, exp: Math.floor(Date.now() / 1000) + 60 });
    for (let i = 0; i < 50; i++) {
      const client = new RecordingClient(`ws://127.0.0.1:${port}/ws/scraping/${unknown}?token=${token}`);
      expect((await client.closed).code).toBe(4404);
    }
    expect(await lookups()).toBeLessThanOrEqual(start + 2);
  });

  it('serves the dashboard with security headers', async () => {
    const page = await fetch(`http://127.0.0.1:${lb.port}/`);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(page.headers.get('content-security-policy')).not.toMatch(/unsafe-inline/);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
  });
});
