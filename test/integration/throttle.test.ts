import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import type { EventDraft, EventType } from '../../shared/events.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { oneToN, params } from '../helpers/jobs.js';
import { MuxTestClient } from '../helpers/mux-client.js';

const RATE = 1000; // job_progress per second
const SECONDS = 2;
const INTERVAL = 250;

const draft = (i: number, type: EventType): EventDraft => ({
  event_type: type,
  status: type === 'job_completed' ? 'completed' : 'running',
  progress: type === 'job_progress' ? (i / (RATE * SECONDS)) * 100 : null,
  results_count: i,
  message: null,
  metadata: {},
  timestamp: new Date().toISOString(),
});

/** Every 400th event is a scraper event; the last one completes the job. */
const total = RATE * SECONDS + 1;
const typeOf = (i: number): EventType => (i === total ? 'job_completed' : i % 400 === 0 ? 'scraper_completed' : 'job_progress');

describe('progress_interval_ms: throttled progress', () => {
  let f: GatewayFixture;
  beforeAll(async () => {
    f = await startGatewayFixture();
  });
  afterAll(() => f?.close());

  it(`a job emitting ${RATE} progress events a second reaches a ${INTERVAL} ms client at most 5 a second, with its last progress and every other event; an unthrottled client gets all`, async () => {
    const job = (await insertPendingJob(f.database.db, params())).id;
    const log = f.eventLog(total + 10);
    const throttled = new MuxTestClient(`ws://${f.host}/ws`);
    const plain = new MuxTestClient(`ws://${f.host}/ws`);
    const legacy = new MuxTestClient(`ws://${f.host}/ws/scraping/${job}?progress_interval_ms=${INTERVAL}`);
    await Promise.all([throttled.opened, plain.opened, legacy.opened]);
    const arrivals: { at: number; type: string }[] = [];
    throttled.ws.on('message', (data: Buffer) => {
      const m = /"event_type":"(\w+)"/.exec(data.toString());
      if (m && !data.toString().includes('"snapshot":true')) arrivals.push({ at: performance.now(), type: m[1]! });
    });
    throttled.subscribe(job, { progress_interval_ms: INTERVAL });
    plain.subscribe(job);
    for (const c of [throttled, plain, legacy]) await c.waitFor(() => c.events.length >= 1, 'snapshot');

    // 20 events every 20 ms: 1,000 a second.
    const started = performance.now();
    for (let i = 1; i <= total; i += 20) {
      await Promise.all(oneToN(Math.min(20, total - i + 1)).map((k) => log.append(job, draft(i + k - 1, typeOf(i + k - 1)))));
      const due = started + ((i + 19) / RATE) * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
    for (const c of [throttled, plain, legacy]) await c.waitFor(() => c.events.some((e) => e.seq === total), 'job_completed', 15_000);

    expect(plain.events.slice(1).map((e) => e.seq)).toEqual(oneToN(total));
    for (const c of [throttled, legacy]) {
      const events = c.events.slice(1);
      const seqs = events.map((e) => e.seq);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs); // in order
      // Every non-progress event, and the last progress before the end.
      expect(events.filter((e) => e.event_type !== 'job_progress').map((e) => e.seq)).toEqual(oneToN(total).filter((i) => typeOf(i) !== 'job_progress'));
      const lastProgress = Math.max(...oneToN(total).filter((i) => typeOf(i) === 'job_progress'));
      expect(seqs).toContain(lastProgress);
      expect(events.filter((e) => e.event_type === 'job_progress').length).toBeLessThanOrEqual(SECONDS * 5 + 6);
    }
    // Per second of arrival: at most 5 progress events, plus one released early by each other event.
    const first = arrivals[0]!.at;
    const buckets = new Map<number, { progress: number; other: number }>();
    for (const { at, type } of arrivals) {
      const b = buckets.get(Math.floor((at - first) / 1000)) ?? { progress: 0, other: 0 };
      type === 'job_progress' ? b.progress++ : b.other++;
      buckets.set(Math.floor((at - first) / 1000), b);
    }
    for (const [second, b] of buckets) expect(b.progress, `second ${second}`).toBeLessThanOrEqual(5 + b.other);
    for (const c of [throttled, plain, legacy]) c.close();
  });
});
