import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { params } from '../helpers/jobs.js';
import { startService, type ServiceProcess } from '../helpers/processes.js';
import { serviceEnv } from '../helpers/services.js';
import { httpJson, RecordingClient } from '../helpers/ws-client.js';

/** One sample's value from Prometheus text exposition (`name{labels} value`), whatever the label order. */
function sample(text: string, name: string, labels = ''): number {
  const wanted = labels ? labels.split(',') : [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = new Set(match[2] ? match[2].split(',') : []);
    if (wanted.every((label) => have.has(label))) return Number(match[3]);
  }
  throw new Error(`no sample ${name}{${labels}} in:\n${text.split('\n').filter((l) => l.startsWith(name)).join('\n') || '(no line of that name)'}`);
}

/**
 * `promtool check metrics` (Debian's prometheus package) parses the exposition and lints every
 * name. prom-client's own default gauges `nodejs_active_{handles,requests,resources}_total` break
 * the `_total` rule upstream; every other finding fails the test.
 */
function promtoolCheck(text: string): void {
  let findings: string;
  try {
    execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    return;
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    findings = `${stdout}${stderr}`;
  }
  const ours = findings.split('\n').filter((line) => line.trim() !== '' && !/^nodejs_active_(handles|requests|resources)_total /.test(line));
  expect(ours, 'promtool check metrics').toEqual([]);
}

describe('Prometheus metrics of a gateway and a worker', () => {
  let f: GatewayFixture;
  let worker: ServiceProcess;
  let workerMetricsUrl: string;

  beforeAll(async () => {
    f = await startGatewayFixture();
    worker = await startService('worker', serviceEnv({ databaseUrl: f.database.url, keyPrefix: f.redis.keyPrefix }, { METRICS_PORT: '0', HOST: '127.0.0.1' }));
    const ready = await worker.waitForLog('worker ready');
    workerMetricsUrl = `http://127.0.0.1:${Number(ready.metricsPort)}/metrics`;
  });

  afterAll(async () => {
    await worker?.stop();
    await f?.close();
  });

  it('parse as Prometheus text, and their counters move as a job runs', async () => {
    const gatewayBefore = await (await fetch(`http://${f.host}/metrics`)).text();
    const workerBefore = await (await fetch(workerMetricsUrl)).text();
    promtoolCheck(gatewayBefore);
    promtoolCheck(workerBefore);
    expect(sample(gatewayBefore, 'scout_gateway_events_forwarded_total')).toBe(0);
    expect(sample(gatewayBefore, 'scout_gateway_redis_connected')).toBe(1);

    const enqueued = await httpJson(`http://${f.host}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(params({ destinations: ['BCN'], scrapers: ['sim-ryanair', 'sim-wizzair'] })),
    });
    expect(enqueued.status).toBe(202);
    const client = new RecordingClient(enqueued.body.ws_url as string);
    await client.waitForEvent((e) => e.event_type === 'job_completed');
    const forwarded = client.events.filter((e) => !e.metadata.snapshot).length;
    const open = await (await fetch(`http://${f.host}/metrics`)).text();
    client.close();
    await client.closed;

    promtoolCheck(open);
    expect(sample(open, 'scout_gateway_connections')).toBe(1);
    expect(sample(open, 'scout_gateway_subscribed_jobs')).toBe(1);
    expect(sample(open, 'scout_gateway_upgrades_total', 'outcome="accepted"')).toBe(1);
    expect(sample(open, 'scout_gateway_events_forwarded_total')).toBeGreaterThanOrEqual(forwarded);
    expect(sample(open, 'scout_gateway_event_delivery_seconds_count')).toBeGreaterThanOrEqual(forwarded);
    expect(sample(open, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);

    await expect.poll(async () => sample(await (await fetch(workerMetricsUrl)).text(), 'scout_worker_jobs_total', 'outcome="completed"')).toBe(1);
    const workerAfter = await (await fetch(workerMetricsUrl)).text();
    promtoolCheck(workerAfter);
    expect(sample(workerAfter, 'scout_worker_job_duration_seconds_count', 'outcome="completed"')).toBe(1);
    // One route, one date range, two sources: two searches, both fine.
    expect(sample(workerAfter, 'scout_worker_scraper_calls_total', 'source="sim-ryanair",outcome="ok"')).toBe(1);
    expect(sample(workerAfter, 'scout_worker_scraper_calls_total', 'source="sim-wizzair",outcome="ok"')).toBe(1);
    expect(sample(workerAfter, 'scout_worker_queue_jobs', 'state="waiting"')).toBe(0);
    expect(sample(workerAfter, 'scout_worker_queue_oldest_waiting_seconds')).toBe(0);
    // Every event of the job went through this worker's emit calls, several in some of them.
    const lastSeq = client.events.at(-1)!.seq;
    const calls = sample(workerAfter, 'scout_worker_emit_calls_total');
    expect(sample(workerAfter, 'scout_worker_emit_events_total')).toBe(lastSeq);
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThanOrEqual(lastSeq);
    expect(sample(workerAfter, 'scout_worker_emit_sections_total')).toBe(calls);
  });
});
