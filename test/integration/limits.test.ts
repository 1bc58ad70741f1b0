import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markJobCompleted } from '../../shared/db/jobs.repository.js';
import { JobEventLog } from '../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { AUTH_ON, createKey, postJob } from '../helpers/auth.js';
import { startLoadBalancer, type LoadBalancer } from '../helpers/haproxy.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { RecordingClient } from '../helpers/ws-client.js';
import { paddedProgress } from '../helpers/drafts.js';


/** Opens a socket and says how it went: 'open', or the HTTP status that refused it (with Retry-After). */
async function tryOpen(url: string, localAddress?: string): Promise<{ result: string; client: RecordingClient }> {
  const client = new RecordingClient(url, localAddress ? { localAddress } : {});
  try {
    await client.opened;
    return { result: 'open', client };
  } catch (error) {
    return { result: /upgrade refused: HTTP (\d+)/.exec((error as Error).message)?.[1] ?? (error as Error).message, client };
  }
}

describe('abuse limits, shared by two gateways behind HAProxy', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let gateways: ServiceProcess[];
  let ports: number[];
  let lb: LoadBalancer;
  let key: string;
  let job: { job_id: number; watch_token: string };

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    const env = serviceEnv(
      { databaseUrl: database.url, keyPrefix: redis.keyPrefix },
      {
        ...AUTH_ON,
        PORT: '0',
        TRUSTED_PROXIES: '127.0.0.1',
        RATE_LIMIT_JOBS_PER_MINUTE: '5',
        MAX_ACTIVE_JOBS_PER_KEY: '3',
        RATE_LIMIT_UPGRADES_PER_SECOND_PER_IP: '10',
        MAX_CONNECTIONS_PER_IP: '12',
        WS_MESSAGES_PER_SECOND: '20',
        REPLAY_BYTES_PER_SECOND: '2048',
      },
    );
    gateways = await Promise.all(['gw-1', 'gw-2'].map((id) => startService('gateway', { ...env, GATEWAY_ID: id }, { name: id })));
    ports = await Promise.all(gateways.map((g) => gatewayPort(g)));
    lb = await startLoadBalancer(ports.map((p) => `127.0.0.1:${p}`));
    key = await createKey(database.url, 'limited');
    job = (await postJob(`http://127.0.0.1:${ports[0]}`, key)).body;
  });
  afterAll(async () => {
    await lb?.stop();
    await Promise.all((gateways ?? []).map((g) => g.stop()));
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  it('stops a key past RATE_LIMIT_JOBS_PER_MINUTE, counted across both gateways: 429 with Retry-After', async () => {
    const other = await createKey(database.url, 'busy');
    const answers = [];
    for (let i = 0; i < 6; i++) {
      const response = await fetch(`http://127.0.0.1:${ports[i % 2]}/api/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${other}` },
        body: JSON.stringify({ origins: ['MUC'], destinations: ['BCN'], date_ranges: [['2027-03-01', '2027-03-08']] }),
      });
      const body = await response.json();
      answers.push({ status: response.status, retryAfter: response.headers.get('retry-after'), code: body.error?.code });
      // Ended at once, so that only the per-minute rate can refuse.
      if (response.status === 202) await markJobCompleted(database.db, body.job_id, { itemsScraped: 0, lastSeq: 0 });
    }
    expect(answers.slice(0, 5).map((a) => a.status)).toEqual([202, 202, 202, 202, 202]);
    expect(answers[5]).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect(Number(answers[5]!.retryAfter)).toBeGreaterThanOrEqual(1);
  });

  it('stops a key with MAX_ACTIVE_JOBS_PER_KEY jobs pending or running', async () => {
    const owner = await createKey(database.url, 'hoarder');
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await postJob(`http://127.0.0.1:${ports[i % 2]}`, owner)).status);
    expect(statuses).toEqual([202, 202, 202, 429]);
  });

  it('refuses upgrades past the per-second limit of one address with 429, whatever X-Forwarded-For it forges', async () => {
    const url = (i: number) => `ws://127.0.0.1:${ports[i % 2]}/ws/scraping/${job.job_id}?token=${job.watch_token}`;
    // A direct client (127.0.0.2 is not a trusted proxy) forging a new address on every upgrade.
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) => {
        const client = new RecordingClient(url(i), { localAddress: '127.0.0.2', headers: { 'X-Forwarded-For': `10.0.0.${i}` } });
        return client.opened.then(
          () => (client.close(), 'open'),
          (error: Error) => /upgrade refused: HTTP \d+/.exec(error.message)?.[0] ?? error.message,
        );
      }),
    );
    // Fixed one-second windows: a burst that straddles a boundary may use two of them, no more.
    expect(results.filter((r) => r === 'open').length).toBeLessThanOrEqual(20);
    expect(results).toContain('upgrade refused: HTTP 429');
  });

  it('applies the limits to the real client address behind HAProxy, not to HAProxy or a forged header', async () => {
    const url = `ws://127.0.0.1:${lb.port}/ws/scraping/${job.job_id}?token=${job.watch_token}`;
    await new Promise((r) => setTimeout(r, 1100)); // a fresh second
    const burst = await Promise.all(Array.from({ length: 11 }, () => tryOpen(url, '127.0.0.3')));
    expect(burst.map((b) => b.result)).toContain('429');
    // Another client through the same load balancer is not affected by the first one's burst.
    const neighbour = await tryOpen(url, '127.0.0.4');
    expect(neighbour.result).toBe('open');
    for (const b of [...burst, neighbour]) b.client.close();
  });

  it('caps the open WebSockets of one address across both gateways (MAX_CONNECTIONS_PER_IP)', async () => {
    await new Promise((r) => setTimeout(r, 1100));
    const url = (i: number) => `ws://127.0.0.1:${ports[i % 2]}/ws/scraping/${job.job_id}?token=${job.watch_token}`;
    const first = await Promise.all(Array.from({ length: 8 }, (_, i) => tryOpen(url(i), '127.0.0.5')));
    await new Promise((r) => setTimeout(r, 1100));
    const second = await Promise.all(Array.from({ length: 5 }, (_, i) => tryOpen(url(i), '127.0.0.5')));
    const results = [...first, ...second].map((r) => r.result);
    // Should a 13th get in, say whether one of the first 8 had been closed meanwhile (a slot given back).
    const closes = first.map((r) => r.client.closeInfo);
    expect(results.filter((r) => r === 'open'), `${JSON.stringify(results)}; first 8 closed: ${JSON.stringify(closes)}`).toHaveLength(12);
    expect(results.filter((r) => r === '429')).toHaveLength(1);
    // Closing gives the slots back.
    for (const r of [...first, ...second]) r.client.close();
    await new Promise((r) => setTimeout(r, 1100));
    expect((await tryOpen(url(0), '127.0.0.5')).result).toBe('open');
  });

  it('closes a socket that floods messages with 1008, leaving its neighbour on the same job alone', async () => {
    const url = `ws://127.0.0.1:${ports[0]}/ws/scraping/${job.job_id}?token=${job.watch_token}`;
    const flooder = await tryOpen(url, '127.0.0.6');
    const neighbour = await tryOpen(url, '127.0.0.7');
    expect([flooder.result, neighbour.result]).toEqual(['open', 'open']);
    for (let i = 0; i < 300; i++) flooder.client.send('ping');
    expect((await flooder.client.closed).code).toBe(1008);
    // The neighbour still gets pongs and events.
    neighbour.client.send('ping');
    await expect.poll(() => neighbour.client.texts.includes('pong')).toBe(true);
    const log = new JobEventLog(redis.redis, new RedisKeys(redis.keyPrefix), { maxEvents: 1000, retentionSeconds: 600 });
    await log.append(job.job_id, paddedProgress(1));
    await neighbour.client.waitForEvent((e) => e.seq === 1, 5000);
    neighbour.client.close();
  });

  it('bounds what one client may replay: a second full replay within the window is 429', async () => {
    const log = new JobEventLog(redis.redis, new RedisKeys(redis.keyPrefix), { maxEvents: 1000, retentionSeconds: 600 });
    const { body: big } = await postJob(`http://127.0.0.1:${ports[1]}`, await createKey(database.url, 'replayer'));
    for (let i = 1; i <= 200; i++) await log.append(big.job_id, paddedProgress(i)); // ~50 kB of history, over 10 s of budget
    const url = `ws://127.0.0.1:${ports[0]}/ws/scraping/${big.job_id}?last_seq=0&token=${big.watch_token}`;
    const first = await tryOpen(url, '127.0.0.8');
    expect(first.result).toBe('open');
    await first.client.waitForEvent((e) => e.seq === 200, 5000);
    first.client.close();
    await expect.poll(async () => (await tryOpen(url, '127.0.0.9')).result, { timeout: 2000 }).toBe('429');
    // Watching live (no replay) is not limited by it.
    const live = await tryOpen(`ws://127.0.0.1:${ports[1]}/ws/scraping/${big.job_id}?token=${big.watch_token}`, '127.0.0.8');
    expect(live.result).toBe('open');
    live.client.close();
  });
});
