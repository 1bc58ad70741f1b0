import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findJob } from '../../shared/db/jobs.repository.js';
import { startClusterFixture, type ClusterFixture } from '../helpers/cluster-fixture.js';
import { params } from '../helpers/jobs.js';
import type { ServiceProcess } from '../helpers/processes.js';
import { httpJson } from '../helpers/ws-client.js';
import { Watcher } from '../helpers/watchers.js';

/**
 * Cancellation on a Redis Cluster: the cancel notice is a plain PUBLISH, which the cluster carries
 * to a worker subscribed on any node; the gateway's and the worker's terminal events go through
 * the sharded emit like every other event.
 */
describe('cancel on a Redis Cluster (3 masters + 3 replicas)', () => {
  let f: ClusterFixture;
  let a: { host: string };
  let b: { host: string };
  let worker: ServiceProcess;

  beforeAll(async () => {
    f = await startClusterFixture({ SCRAPER_LATENCY_MS: '300', ORCHESTRATOR_CONCURRENCY: '2', WORKER_CONCURRENCY: '1' });
    [a, b, worker] = await Promise.all([f.startGateway('cancel-gw-a'), f.startGateway('cancel-gw-b'), f.startWorker('cancel-worker')]);
  }, 90_000);
  afterAll(() => f?.close());

  const post = async (host: string, path: string, body?: unknown) =>
    httpJson(`http://${host}${path}`, { method: 'POST', headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });

  it('stops a running job and takes a waiting one off the queue; watchers on both gateways get one cancelled end', async () => {
    const job = params({ origins: ['MUC', 'VIE'], destinations: ['BCN', 'LIS'] });
    const running = (await post(a.host, '/api/jobs', job)).body.job_id as number;
    const waiting = (await post(a.host, '/api/jobs', job)).body.job_id as number;
    const watchers = [a, b].flatMap((g) => [new Watcher(`http://${g.host}`, running), new Watcher(`http://${g.host}`, waiting)]);
    await expect.poll(async () => (await findJob(f.database.db, running))?.progress ?? 0, { timeout: 15_000 }).toBeGreaterThan(0);

    const cancelledAt = Date.now();
    expect((await post(b.host, `/api/jobs/${running}/cancel`)).body).toMatchObject({ status: 'cancelled', was: 'running' });
    expect((await post(b.host, `/api/jobs/${waiting}/cancel`)).body).toMatchObject({ status: 'cancelled', was: 'pending' });
    const ends = await Promise.all(watchers.map((w) => w.stream.finished()));
    expect(Date.now() - cancelledAt).toBeLessThan(2_000);
    for (const end of ends) expect(end).toMatchObject({ event_type: 'job_failed', status: 'cancelled' });
    for (const id of [running, waiting]) expect((await findJob(f.database.db, id))!.status).toBe('cancelled');
    for (const w of watchers) expect(w.errors).toEqual([]);
    // The worker heard the notice and stopped the job (not merely reached its end).
    await worker.waitForLog('job cancelled; its searches stopped', 1_000);
  });
});
