import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisKeys } from '../../shared/redis/keys.js';
import { jobHistory, oneToN } from '../helpers/jobs.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { httpJson, RecordingClient } from '../helpers/ws-client.js';

/** Several gateway processes on one Redis: each receives only the jobs its own clients watch. */
describe('several gateways, one worker', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  const gateways: { process: ServiceProcess; base: string }[] = [];
  let worker: ServiceProcess;

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    const env = serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }, { SCRAPER_LATENCY_MS: '50' });
    const started = await Promise.all(
      ['gw-a', 'gw-b', 'gw-idle'].map(async (id) => {
        const process = await startService('gateway', { ...env, PORT: '0', GATEWAY_ID: id }, { name: id });
        return { process, base: `127.0.0.1:${await gatewayPort(process)}` };
      }),
    );
    gateways.push(...started);
    worker = await startService('worker', env);
  });
  afterAll(async () => {
    await Promise.all([worker?.stop(), ...gateways.map((g) => g.process.stop())]);
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  const stats = async (base: string) => (await httpJson(`http://${base}/ws/stats`)).body;

  it('gives 100 clients spread over two gateways the identical sequence; the third gateway receives nothing', async () => {
    const [a, b, idle] = gateways as [(typeof gateways)[0], (typeof gateways)[0], (typeof gateways)[0]];
    const created = await httpJson(`http://${a.base}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ origins: ['MUC', 'BER'], destinations: ['BCN', 'LIS'], date_ranges: [['2027-05-01', '2027-05-08']] }),
    });
    expect(created.status).toBe(202);
    const jobId = created.body.job_id as number;
    const clients = Array.from({ length: 100 }, (_, i) => new RecordingClient(`ws://${(i % 2 ? a : b).base}/ws/scraping/${jobId}`));
    await Promise.all(clients.map((c) => c.waitForEvent((e) => e.event_type === 'job_completed', 30_000)));

    const history = await jobHistory(redis.redis, new RedisKeys(redis.keyPrefix), jobId);
    expect(history.map((e) => e.seq)).toEqual(oneToN(history.length));
    const historyTexts = await redis.redis.lrange(new RedisKeys(redis.keyPrefix).jobHistory(jobId), 0, -1);
    for (const client of clients) {
      // Whatever point it joined at (its snapshot), a client then gets the history's exact frames.
      const snapshot = client.events[0]!;
      expect(snapshot.metadata.snapshot).toBe(true);
      expect(client.texts.slice(1)).toEqual(historyTexts.slice(snapshot.seq));
    }

    const [statsA, statsB, statsIdle] = await Promise.all([stats(a.base), stats(b.base), stats(idle.base)]);
    expect(statsA.events_forwarded).toBeGreaterThan(0);
    expect(statsB.events_forwarded).toBeGreaterThan(0);
    expect(statsIdle).toMatchObject({ events_received: 0, events_forwarded: 0, redis_channels: 0, total_connections: 0 });
    clients.forEach((c) => c.close());
  });
});
