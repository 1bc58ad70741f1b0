import { spawn } from 'node:child_process';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { EVENT_TYPES, scrapingEventSchema, type EventDraft, type EventType } from '../../shared/events.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { oneToN, params } from '../helpers/jobs.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const draft = (i: number, type: EventType = 'job_progress'): EventDraft => ({
  event_type: type,
  status: type === 'job_completed' ? 'completed' : 'running',
  progress: Math.min(100, i / 2),
  results_count: i,
  message: `event ${i}`,
  metadata: {},
  timestamp: new Date().toISOString(),
});

interface SseBlock {
  id?: string;
  event?: string;
  data?: string;
}

/** Splits an event stream into its blocks (comments dropped). */
function blocksOf(text: string): SseBlock[] {
  return text
    .split('\n\n')
    .map((block) => {
      const out: SseBlock = {};
      for (const line of block.split('\n')) {
        const m = /^(id|event|data): (.*)$/.exec(line);
        if (m) out[m[1] as keyof SseBlock] = m[2];
      }
      return out;
    })
    .filter((b) => b.data !== undefined);
}

describe('GET /sse/scraping/{id}', () => {
  let f: GatewayFixture;
  let browser: Browser | undefined;
  beforeAll(async () => {
    f = await startGatewayFixture({ SSE_HEARTBEAT_SECONDS: '1' });
  });
  afterAll(async () => {
    await browser?.close();
    await f?.close();
  });
  const newJob = async () => (await insertPendingJob(f.database.db, params())).id;

  it('curl -N follows a job: id <epoch>:<seq>, event <type>, data <event JSON>, heartbeats between', async () => {
    const job = await newJob();
    const log = f.eventLog();
    await log.append(job, draft(1));
    const curl = spawn('curl', ['-N', '-s', '-i', `http://${f.host}/sse/scraping/${job}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    curl.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      await expect.poll(() => out.includes('"seq":1'), { timeout: 5000 }).toBe(true);
      let epoch = '';
      for (let i = 2; i <= 10; i++) epoch = (await log.append(job, draft(i, i === 5 ? 'scraper_completed' : 'job_progress'))).epoch;
      await new Promise((r) => setTimeout(r, 1200)); // a heartbeat's time
      await log.append(job, draft(11, 'job_completed'));
      await expect.poll(() => out.includes('event: job_completed'), { timeout: 5000 }).toBe(true);
      expect(out).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(out.toLowerCase()).toContain('content-type: text/event-stream');
      expect(out).toContain(': heartbeat\n\n');
      const blocks = blocksOf(out.slice(out.indexOf('\r\n\r\n') + 4));
      const events = blocks.map((b) => scrapingEventSchema.parse(JSON.parse(b.data!)));
      expect(events[0]!.metadata.snapshot).toBe(true);
      expect(events.slice(1).map((e) => e.seq)).toEqual(oneToN(11).slice(1));
      for (const [i, b] of blocks.entries()) {
        expect(b.event).toBe(events[i]!.event_type);
        expect(b.id).toBe(`${epoch}:${events[i]!.seq}`);
      }
    } finally {
      curl.kill();
    }
  });

  it('resumes from ?last_event_id= with history, answers an unknown job with 404 and a bad id with 400', async () => {
    const job = await newJob();
    const log = f.eventLog();
    let epoch = '';
    for (let i = 1; i <= 6; i++) epoch = (await log.append(job, draft(i, i % 2 === 0 ? 'scraper_started' : 'job_progress'))).epoch;
    const controller = new AbortController();
    const res = await fetch(`http://${f.host}/sse/scraping/${job}?last_event_id=${epoch}:3&event_types=scraper_started`, { signal: controller.signal });
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('"seq":6')) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    expect(blocksOf(text).map((b) => b.id)).toEqual([`${epoch}:4`, `${epoch}:6`]);
    expect((await fetch(`http://${f.host}/sse/scraping/999999`)).status).toBe(404);
    expect((await fetch(`http://${f.host}/sse/scraping/${job}?last_event_id=nope`)).status).toBe(400);
  });

  it("headless Chromium's EventSource, cut off the network mid-job, reconnects by itself with Last-Event-ID and ends with every event exactly once", async () => {
    const job = await newJob();
    const log = f.eventLog();
    const [host, port] = f.host.split(':');
    const proxy = await TcpProxy.start({ host: host!, port: Number(port) });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${proxy.port}/health`);
      await page.evaluate(
        ({ jobId, types }) => {
          const w = window as unknown as { seqs: number[]; opens: number };
          w.seqs = [];
          w.opens = 0;
          const source = new EventSource(`/sse/scraping/${jobId}`);
          source.onopen = () => (w.opens += 1);
          for (const type of types) source.addEventListener(type, (e) => w.seqs.push(JSON.parse((e as MessageEvent).data).seq));
        },
        { jobId: job, types: [...EVENT_TYPES] },
      );
      const seqs = () => page.evaluate(() => (window as unknown as { seqs: number[] }).seqs);
      await expect.poll(seqs, { timeout: 5000 }).toEqual([0]);
      for (let i = 1; i <= 40; i++) await log.append(job, draft(i));
      await expect.poll(async () => (await seqs()).length, { timeout: 5000 }).toBe(41);
      expect(proxy.cut()).toBeGreaterThan(0);
      for (let i = 41; i <= 80; i++) await log.append(job, draft(i)); // missed while off the network
      proxy.restore();
      for (let i = 81; i <= 99; i++) await log.append(job, draft(i));
      await log.append(job, draft(100, 'job_completed'));
      await expect.poll(async () => (await seqs()).at(-1), { timeout: 15_000 }).toBe(100);
      expect(await seqs()).toEqual([0, ...oneToN(100)]);
      expect(await page.evaluate(() => (window as unknown as { opens: number }).opens)).toBeGreaterThanOrEqual(2);
    } finally {
      await proxy.close();
    }
  });
  it('the dashboard follows several jobs on one connection (#jobs=a,b,unknown)', async () => {
    const [a, b] = [await newJob(), await newJob()];
    const log = f.eventLog();
    browser ??= await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    const page = await browser.newPage();
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await page.goto(`http://${f.host}/#jobs=${a},${b},999999`);
    const row = (id: number) => page.locator(`#jobs-board li[data-job-id="${id}"]`);
    await expect.poll(() => row(999999).textContent(), { timeout: 15_000 }).toContain('not found');
    await log.append(a, draft(1));
    await log.append(a, draft(2, 'job_completed'));
    await log.append(b, draft(1, 'scraper_started'));
    await expect.poll(() => row(a).getAttribute('data-status'), { timeout: 10_000 }).toBe('completed');
    await expect.poll(() => row(b).getAttribute('data-seq'), { timeout: 10_000 }).toBe('1');
    expect(sockets.filter((url) => url.endsWith('/ws'))).toHaveLength(1);
  });
  it('the SDK falls back to SSE when WebSockets never open, and still delivers every event of each job once', async () => {
    const [a, b] = [await newJob(), await newJob()];
    const log = f.eventLog();
    for (let i = 1; i <= 5; i++) await log.append(a, draft(i));
    browser ??= await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    const page = await browser.newPage();
    await page.goto(`http://${f.host}/health`);
    // As a string: the test runner would rewrite a dynamic import inside a function.
    await page.evaluate(`(async () => {
      const { ScoutClient } = await import('/client/job-stream.js');
      // A network that lets no WebSocket through: every attempt fails before it opens.
      class Blocked extends WebSocket {
        constructor() { super('ws://127.0.0.1:1/'); }
      }
      window.got = { ${a}: [], ${b}: [] };
      window.refused = [];
      const client = new ScoutClient({ baseUrl: location.origin, WebSocket: Blocked, backoff: { baseMs: 20, maxMs: 50 } });
      window.client = client;
      for (const id of [${a}, ${b}]) client.subscribe(id, { resumeFrom: { lastSeq: 0, epoch: null } }).on('event', (e) => window.got[id].push(e.seq));
      client.subscribe(999999).on('error', (e) => window.refused.push(e.code));
    })()`);
    await expect.poll(() => page.evaluate(() => (window as unknown as { client: { usingSse: boolean } }).client.usingSse), { timeout: 10_000 }).toBe(true);
    for (let i = 6; i <= 10; i++) await log.append(a, draft(i));
    for (let i = 1; i <= 3; i++) await log.append(b, draft(i, i === 3 ? 'job_completed' : 'job_progress'));
    const got = () => page.evaluate(() => (window as unknown as { got: Record<number, number[]> }).got);
    await expect.poll(async () => (await got())[a]?.length, { timeout: 10_000 }).toBe(10);
    await expect.poll(async () => (await got())[b]?.length, { timeout: 10_000 }).toBe(3);
    expect(await got()).toEqual({ [a]: oneToN(10), [b]: oneToN(3) });
    expect(await page.evaluate(() => (window as unknown as { refused: string[] }).refused)).toEqual(['REFUSED']); // the unknown job's 404
  });
  it('cuts an SSE reader that falls WS_MAX_BACKPRESSURE_BYTES behind, like a socket, and it resumes from its last id without loss', async () => {
    const slow = await startGatewayFixture({ WS_MAX_BACKPRESSURE_BYTES: String(256 * 1024) });
    try {
      const job = (await insertPendingJob(slow.database.db, params())).id;
      const log = slow.eventLog(2000);
      const [host, port] = slow.host.split(':');
      const { connect } = await import('node:net');
      const socket = connect({ host: host!, port: Number(port) });
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.write(`GET /sse/scraping/${job} HTTP/1.1\r\nHost: ${slow.host}\r\n\r\n`);
      await expect.poll(() => received.includes('Connected to job'), { timeout: 5000 }).toBe(true);
      socket.pause(); // a reader that stops reading
      const padding = 'x'.repeat(20_000);
      for (let i = 1; i <= 600; i++) await log.append(job, { ...draft(i), message: `${i} ${padding}` });
      await expect.poll(async () => (await slow.stats()).slow_consumers_closed, { timeout: 15_000 }).toBe(1);
      socket.resume();
      await closed;
      const ids = [...received.matchAll(/^id: (\d+):(\d+)$/gm)].map((m) => Number(m[2]));
      expect(ids).toEqual(oneToN(ids.length)); // an unbroken prefix (the snapshot of the pending job has no epoch in its id)
      expect(ids.at(-1)!).toBeLessThan(600);
      const last = /^id: (\d+:\d+)$/gm;
      const lastId = [...received.matchAll(last)].at(-1)![1]!;
      const res = await fetch(`http://${slow.host}/sse/scraping/${job}`, { headers: { 'Last-Event-ID': lastId } });
      const reader = res.body!.getReader();
      let rest = '';
      while (!rest.includes(`"seq":600,`)) rest += new TextDecoder().decode((await reader.read()).value);
      await reader.cancel();
      const resumed = [...rest.matchAll(/^id: \d+:(\d+)$/gm)].map((m) => Number(m[1]));
      expect(resumed).toEqual(oneToN(600).slice(ids.at(-1)!));
    } finally {
      await slow.close();
    }
  });
});
