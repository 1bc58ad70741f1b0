import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobResponseSchema } from '../../shared/api.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { startLoadBalancer, type LoadBalancer } from '../helpers/haproxy.js';
import { params } from '../helpers/jobs.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { httpJson, RecordingClient } from '../helpers/ws-client.js';

const CLIENTS = 20;

/**
 * The deployment's load balancer (gateway/deploy/haproxy.cfg, the file docker compose mounts) run
 * by the HAProxy from apt, in front of two gateway processes, with one worker behind them: every
 * request and WebSocket goes through HAProxy, as it does in the composed system.
 */
describe('two gateways behind HAProxy', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let keys: RedisKeys;
  let env: Record<string, string>;
  const gateways: { id: string; process: ServiceProcess; base: string }[] = [];
  let worker: ServiceProcess | undefined;
  let lb: LoadBalancer;
  let lbBase: string;

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    keys = new RedisKeys(redis.keyPrefix);
    env = serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }, { HOST: '127.0.0.1' });
    const started = await Promise.all(
      ['gw-a', 'gw-b'].map(async (id) => {
        const process = await startService('gateway', { ...env, PORT: '0', GATEWAY_ID: id }, { name: id });
        return { id, process, base: `127.0.0.1:${await gatewayPort(process)}` };
      }),
    );
    gateways.push(...started);
    lb = await startLoadBalancer(gateways.map((g) => g.base));
    lbBase = `127.0.0.1:${lb.port}`;
  });

  afterAll(async () => {
    await lb?.stop();
    await Promise.all([worker?.stop(), ...gateways.map((g) => g.process.stop())]);
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  const stats = async (base: string) => (await httpJson(`http://${base}/ws/stats`)).body;
  let jobId: number;
  let history: string[];

  it('answers /health through the load balancer', async () => {
    const health = await httpJson(`http://${lbBase}/health`);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ok', failing: [] });
    expect(['gw-a', 'gw-b']).toContain(health.body.gateway_id);
  });

  it('streams one job to clients spread over both gateways, each getting the identical gapless sequence', async () => {
    const created = await httpJson(`http://${lbBase}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(params()),
    });
    expect(created.status).toBe(202);
    const job = createJobResponseSchema.parse(created.body);
    jobId = job.job_id;
    // HAProxy passes the Host header on, so the URLs handed back point at the load balancer.
    expect(job.ws_url).toBe(`ws://${lbBase}/ws/scraping/${jobId}`);
    expect(job.status_url).toBe(`http://${lbBase}/ws/scraping/${jobId}/status`);

    // Every client is watching before the job starts: no worker runs yet.
    const clients = Array.from({ length: CLIENTS }, () => new RecordingClient(job.ws_url));
    await Promise.all(clients.map((c) => c.opened));
    const snapshots = await Promise.all(clients.map((c) => c.waitForEvent(() => true)));
    for (const snapshot of snapshots) {
      expect(snapshot).toMatchObject({ job_id: jobId, seq: 0, status: 'pending', message: `Connected to job ${jobId}` });
      expect(snapshot.metadata).toMatchObject({ snapshot: true });
    }

    const [a, b] = await Promise.all(gateways.map((g) => stats(g.base)));
    expect(a.total_connections + b.total_connections).toBe(CLIENTS);
    expect(a.connections_opened).toBeGreaterThan(0);
    expect(b.connections_opened).toBeGreaterThan(0);
    expect([a.active_jobs, b.active_jobs]).toEqual([1, 1]);

    worker = await startService('worker', env);
    await Promise.all(clients.map((c) => c.waitForEvent((e) => e.event_type === 'job_completed' || e.event_type === 'job_failed', 30_000)));

    history = await redis.redis.lrange(keys.jobHistory(jobId), 0, -1);
    expect(history.length).toBeGreaterThan(2);
    for (const client of clients) {
      const [snapshot, ...events] = client.events;
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => snapshot!.seq + 1 + i));
      expect(events[0]!.event_type).toBe('job_started');
      expect(events.at(-1)!.event_type).toBe('job_completed');
      // Byte for byte what the worker's emit script stored: serialized once, never re-encoded.
      expect(client.texts.slice(1)).toEqual(history);
    }

    const after = await Promise.all(gateways.map((g) => stats(g.base)));
    for (const s of after) expect(s.events_forwarded).toBe(history.length);
    for (const client of clients) client.close();
    await Promise.all(clients.map((c) => c.closed));
  });

  it('keeps serving through the other gateway when one dies, and a client resumes there', async () => {
    const [stay, gone] = gateways as [(typeof gateways)[0], (typeof gateways)[0]];
    const openedBefore = (await stats(stay.base)).connections_opened;
    expect(lb.downReports()).toEqual([]);
    await gone.process.stop('SIGKILL');

    // Until its health check fails, HAProxy may still pick the dead gateway: the refused
    // connection is redispatched to the live one, so no request fails.
    for (let i = 0; i < 6; i++) {
      const health = await httpJson(`http://${lbBase}/health`);
      expect(health.status).toBe(200);
      expect(health.body.gateway_id).toBe(stay.id);
    }
    // Then the health check takes it out of rotation; the live one stays in.
    await lb.serverDown(lb.servers[1]!);
    expect(lb.downReports()).toEqual([expect.stringContaining(`gateways/${lb.servers[1]} is DOWN`)]);

    const resumeFrom = 3;
    const client = new RecordingClient(`ws://${lbBase}/ws/scraping/${jobId}?last_seq=${resumeFrom}`);
    await client.opened;
    await client.waitForEvent((e) => e.event_type === 'job_completed');
    expect(client.texts).toEqual(history.slice(resumeFrom));
    client.close();
    expect((await stats(stay.base)).connections_opened).toBe(openedBefore + 1);
  });
});
