import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { seqOfPayload } from '../../shared/redis/job-event-log.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { RecordingClient } from '../helpers/ws-client.js';

const LIMIT = 256 * 1024;
const EVENTS = 1500;
const PADDING = 'x'.repeat(20_000); // 1,500 × 20 KB = 30 MB through the gateway

const rssBytes = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

describe('a client that reads slower than its job produces', () => {
  let f: GatewayFixture;

  beforeAll(async () => {
    // Uncompressed frames: deflated, this test's repetitive padding would never fill the buffer.
    f = await startGatewayFixture({ WS_MAX_BACKPRESSURE_BYTES: String(LIMIT), WS_COMPRESSION: 'off' });
  });
  afterAll(() => f?.close());

  const newJob = async () =>
    (await insertPendingJob(f.database.db, { origins: ['MUC'], destinations: ['BCN'], date_ranges: [['2027-01-01', '2027-01-02']], scrapers: ['sim-kiwi'] })).id;

  /** Publishes EVENTS large events to the job and returns how far the gateway's RSS rose meanwhile. */
  async function publishAndMeasure(jobId: number): Promise<number> {
    const log = f.eventLog(EVENTS);
    const before = rssBytes(f.gateway.pid);
    let peak = before;
    for (let i = 1; i <= EVENTS; i++) {
      await log.append(jobId, { event_type: 'job_progress', status: 'running', progress: (i / EVENTS) * 100, results_count: i, message: PADDING, metadata: {}, timestamp: new Date().toISOString() });
      if (i % 50 === 0) peak = Math.max(peak, rssBytes(f.gateway.pid));
    }
    return peak - before;
  }

  it('is disconnected past the backpressure limit without growing the gateway, then resumes without loss', { timeout: 120_000 }, async () => {
    // Control: the same traffic with only a healthy client (warms the heap up, too).
    const controlJob = await newJob();
    const control = new RecordingClient(`ws://${f.host}/ws/scraping/${controlJob}`);
    await control.waitForEvent(() => true);
    const controlGrowth = await publishAndMeasure(controlJob);
    await control.waitForEvent((e) => e.seq === EVENTS);
    control.close();

    const jobId = await newJob();
    // A healthy client beside the stalled one must get everything live.
    const healthy = new RecordingClient(`ws://${f.host}/ws/scraping/${jobId}`);
    const stalled = new WebSocket(`ws://${f.host}/ws/scraping/${jobId}`);
    const stalledSeqs: number[] = [];
    stalled.on('message', (data: Buffer) => stalledSeqs.push(seqOfPayload(data)));
    const stalledClosed = new Promise<number>((resolve) => stalled.once('close', (code) => resolve(code)));
    await Promise.all([healthy.opened, new Promise((r) => stalled.once('open', r))]);
    await healthy.waitForEvent(() => true);
    await new Promise((r) => setTimeout(r, 100));
    const socket = (stalled as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();

    const growth = await publishAndMeasure(jobId);
    await healthy.waitForEvent((e) => e.seq === EVENTS);
    expect(healthy.seqs).toEqual(Array.from({ length: EVENTS + 1 }, (_, i) => i));
    // Unbounded, the stalled client's queue would have added the whole 30 MB.
    expect(growth - controlGrowth).toBeLessThan(8 * 1024 * 1024);

    // The stalled client was dropped (uWS shuts the connection past the limit: 1006 on the client)
    // and holds an unbroken prefix of the stream.
    socket.resume();
    expect(await stalledClosed).toBe(1006);
    const lastSeq = stalledSeqs.at(-1)!;
    expect(lastSeq).toBeLessThan(EVENTS);
    expect(stalledSeqs).toEqual(Array.from({ length: stalledSeqs.length }, (_, i) => i));

    // It resumes from the last seq it holds and gets exactly the rest.
    const resumed = new RecordingClient(`ws://${f.host}/ws/scraping/${jobId}?last_seq=${lastSeq}`);
    // 26 MB of catch-up to a client in this very test process: allow for a busy machine.
    await resumed.waitForEvent((e) => e.seq === EVENTS, 45_000).catch(async (error: Error) => {
      const closed = await Promise.race([resumed.closed, new Promise((r) => setTimeout(() => r('open'), 200))]);
      const stats = await (await fetch(`http://${f.host}/ws/stats`)).json();
      throw new Error(`${error.message.slice(0, 80)}… last ${resumed.seqs.at(-1)}; closed ${JSON.stringify(closed)}; stats ${JSON.stringify(stats)}`);
    });
    expect(resumed.seqs).toEqual(Array.from({ length: EVENTS - lastSeq }, (_, i) => lastSeq + 1 + i));
    healthy.close();
    resumed.close();
  });
});
