import type { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { createScrapeQueue, enqueueScrape, type ScrapeJobData } from '../../shared/queue.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { startLoadBalancer, type LoadBalancer } from '../helpers/haproxy.js';
import { flightCounts, jobHistory, oneToN, params } from '../helpers/jobs.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, testConfig, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { Watcher } from '../helpers/watchers.js';
import { httpJson } from '../helpers/ws-client.js';

const WATCHERS = 200;
// 2 × 3 routes × 2 date ranges × 4 scrapers = 48 searches of 300 ms, 8 at a time: a job of ~2 s.
const jobParams = params({ origins: ['MUC', 'BER'], destinations: ['BCN', 'LIS', 'OPO'], date_ranges: [['2027-02-01', '2027-02-08'], ['2027-03-01', '2027-03-08']] });

/**
 * A gateway dies (SIGKILL) or is redeployed (SIGTERM) while 200 clients of the project's SDK watch
 * a running job through HAProxy: every client ends holding exactly the job's events 1..n.
 */
describe('a gateway going away under its watchers', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let keys: RedisKeys;
  let env: Record<string, string>;
  let worker: ServiceProcess;
  let queue: Queue<ScrapeJobData>;
  let gateways: { id: string; process: ServiceProcess; base: string }[] = [];
  let lb: LoadBalancer | undefined;
  let watchers: Watcher[] = [];

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    keys = new RedisKeys(redis.keyPrefix);
    env = serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }, { HOST: '127.0.0.1', SCRAPER_LATENCY_MS: '300' });
    worker = await startService('worker', env);
    queue = createScrapeQueue(testConfig(env), redis.redis.duplicate());
  });
  afterEach(async () => {
    await Promise.all(watchers.map((w) => w.stream.close()));
    watchers = [];
    await lb?.stop();
    await Promise.all(gateways.map((g) => g.process.stop('SIGKILL')));
    gateways = [];
  });
  afterAll(async () => {
    await queue?.close();
    await worker?.stop();
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  async function startTopology(): Promise<string> {
    gateways = await Promise.all(
      ['gw-a', 'gw-b'].map(async (id) => {
        const process = await startService('gateway', { ...env, PORT: '0', GATEWAY_ID: id, DRAIN_TIMEOUT_SECONDS: '5' }, { name: id });
        return { id, process, base: `127.0.0.1:${await gatewayPort(process)}` };
      }),
    );
    lb = await startLoadBalancer(gateways.map((g) => g.base));
    return `http://127.0.0.1:${lb.port}`;
  }

  const connections = async (base: string) => (await httpJson(`http://${base}/ws/stats`)).body.total_connections as number;

  async function watchJobWhileGatewayStops(signal: 'SIGKILL' | 'SIGTERM') {
    const lbBase = await startTopology();
    const jobId = (await insertPendingJob(database.db, jobParams)).id;
    watchers = Array.from({ length: WATCHERS }, () => new Watcher(lbBase, jobId));
    await expect.poll(() => watchers.every((w) => w.snapshots.length === 1), { timeout: 15_000 }).toBe(true);
    const [a, b] = gateways as [(typeof gateways)[0], (typeof gateways)[0]];
    const onA = await connections(a.base);
    expect(onA).toBeGreaterThan(0);
    expect(await connections(b.base)).toBeGreaterThan(0);

    await enqueueScrape(queue, jobId);
    await expect.poll(() => watchers.some((w) => w.seqs.length >= 15), { timeout: 15_000 }).toBe(true);
    const exit = a.process.stop(signal);

    const ends = await Promise.all(watchers.map((w) => Promise.race([w.stream.finished(), new Promise((r) => setTimeout(() => r('timeout'), 45_000))])));
    const history = await jobHistory(redis.redis, keys, jobId);
    const n = history.at(-1)!.seq;
    expect(history.at(-1)!.event_type).toBe('job_completed');
    expect(history.map((e) => e.seq)).toEqual(oneToN(n));
    for (const [i, w] of watchers.entries()) {
      expect(ends[i], `watcher ${i} finished`).not.toBe('timeout');
      expect(w.seqs, `watcher ${i} (closes: ${w.closeCodes.join(',')})`).toEqual(oneToN(n));
      expect(w.stream.duplicatesDropped).toBe(0);
      expect(w.errors).toEqual([]);
    }
    const moved = watchers.filter((w) => w.sockets.length > 1);
    expect(moved.length).toBe(onA);
    const flights = await flightCounts(database.db, jobId);
    expect(flights.rows).toBe(flights.offers);
    return { moved, exit: await exit, gateway: a.process };
  }

  it('SIGKILL: the clients of the dead gateway reconnect to the other and miss nothing', async () => {
    const { moved, exit } = await watchJobWhileGatewayStops('SIGKILL');
    expect(exit.signal).toBe('SIGKILL');
    for (const w of moved) expect(w.closeCodes[0]).toBe(1006);
  });

  it('SIGTERM: the gateway stops accepting, closes its clients with 1001, and they move without loss', async () => {
    const { moved, exit, gateway } = await watchJobWhileGatewayStops('SIGTERM');
    expect(exit.code).toBe(0);
    for (const w of moved) expect(w.closeCodes[0]).toBe(1001);
    const messages = gateway.lines.map((l) => l.msg);
    expect(messages.indexOf('draining')).toBeGreaterThanOrEqual(0);
    expect(messages.indexOf('gateway stopped')).toBeGreaterThan(messages.indexOf('draining'));
  });
});
