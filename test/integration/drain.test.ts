import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { RawWsClient } from '../helpers/raw-ws.js';
import { serviceEnv } from '../helpers/services.js';

const CLIENTS = 10_000;
const DRAIN_TIMEOUT_SECONDS = 4;
/** The clients' source addresses: 10,000 connections twice would crowd one address' ports. */
const sourceAddress = (i: number) => `127.0.0.${2 + (i % 20)}`;

/** The most events of `times` (ms) falling in any window of `windowMs`. */
function peak(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let lo = 0, hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi]! - sorted[lo]! > windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

describe('a gateway draining 10,000 clients', () => {
  let f: GatewayFixture;
  let other: ServiceProcess;
  let otherPort: number;
  const clients: RawWsClient[] = [];

  beforeAll(async () => {
    f = await startGatewayFixture({ DRAIN_TIMEOUT_SECONDS: String(DRAIN_TIMEOUT_SECONDS) });
    other = await startService('gateway', serviceEnv({ databaseUrl: f.database.url, keyPrefix: f.redis.keyPrefix }, { PORT: '0' }), { name: 'other-gateway' });
    otherPort = await gatewayPort(other);
  });

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await other?.stop();
    await f?.close();
  });

  it('closes them in batches over the drain window, so the other gateway sees a ramp, not a wall', async () => {
    const jobId = 7;
    await f.eventLog().append(jobId, {
      event_type: 'job_started',
      status: 'running',
      progress: 0,
      results_count: 0,
      message: 'started',
      metadata: {},
      timestamp: new Date().toISOString(),
    });
    const port = Number(f.host.split(':')[1]);
    const path = `/ws/scraping/${jobId}`;
    for (let i = 0; i < CLIENTS; i += 500) {
      const batch = Array.from({ length: Math.min(500, CLIENTS - i) }, (_, k) => new RawWsClient(port, path, sourceAddress(i + k)));
      clients.push(...batch);
      await Promise.all(batch.map((c) => c.opened));
    }
    // Each client, told to go, reconnects to the other gateway at once (no backoff: the worst case).
    const reconnected = clients.map(async (c, i) => {
      await c.closed;
      const again = new RawWsClient(otherPort, path, sourceAddress(i));
      clients.push(again);
      await again.opened;
      return again.openedAt!;
    });

    const started = performance.now();
    const exit = f.gateway.stop('SIGTERM', 30_000);
    const upgradesAtOther = await Promise.all(reconnected);
    expect((await exit).code).toBe(0);

    const codes = new Set(clients.slice(0, CLIENTS).map((c) => c.closeCode));
    expect([...codes]).toEqual([1001]);
    const closes = clients.slice(0, CLIENTS).map((c) => c.closedAt! - started);
    const spanMs = Math.max(...closes) - Math.min(...closes);
    const peakPer250ms = peak(upgradesAtOther, 250);
    console.log(
      `drain of ${CLIENTS}: closes over ${Math.round(spanMs)} ms; peak upgrade rate at the other gateway ${peakPer250ms * 4}/s ` +
        `over 250 ms (closing all at once measured ~90 % of them within 250 ms)`,
    );
    // Spread over most of the window (DRAIN_TIMEOUT_SECONDS less a second), not at once.
    expect(spanMs).toBeGreaterThan((DRAIN_TIMEOUT_SECONDS - 1) * 1000 * 0.8);
    // An even ramp puts about 1/12 of the clients in a 250 ms window (more on a busy machine,
    // whose event loops bunch them); a wall puts nearly all of them there.
    expect(peakPer250ms).toBeLessThan(CLIENTS * 0.5);
    expect((await (await fetch(`http://127.0.0.1:${otherPort}/ws/stats`)).json()).total_connections).toBe(CLIENTS);
  }, 90_000);
});
