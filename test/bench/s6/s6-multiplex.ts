// S6, protocol v2: many jobs on one connection against one connection per job, and bytes on the
// wire per event for JSON, JSON + permessage-deflate and MessagePack. Standalone (its own gateway,
// database and key prefix): `npm run bench:s6 [-- --mux 5000 --jobs-per-conn 4]`.
//
// Figures: gateway CPU per 1,000 deliveries and deliveries per gateway CPU-second, gateway RSS per
// subscription, and wire bytes per event (TCP bytes read by a client, frame headers included).
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import pg from 'pg';
import WebSocket from 'ws';
import { JobEventLog } from '../../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../../shared/redis/keys.js';
import type { EventDraft } from '../../../shared/events.js';
import { SUBPROTOCOL_MSGPACK } from '../../../shared/protocol-v2.js';
import { gatewayPort, startService, type ServiceProcess } from '../../helpers/processes.js';
import { deleteKeysWithPrefix } from '../../helpers/redis-keys.js';

const { values } = parseArgs({
  options: {
    mux: { type: 'string', default: '5000' },
    'jobs-per-conn': { type: 'string', default: '4' },
    jobs: { type: 'string', default: '200' },
    events: { type: 'string', default: '20' },
    rate: { type: 'string', default: '1000' },
  },
});
const MUX = Number(values.mux);
const PER_CONN = Number(values['jobs-per-conn']);
const SINGLE = MUX * PER_CONN;
const JOBS = Number(values.jobs);
const EVENTS_PER_JOB = Number(values.events);
const RATE = Number(values.rate);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN_DB = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const TICK_MS = 1000 / 100; // /proc CPU ticks (USER_HZ 100)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}
const rssBytes = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

/** An event as the worker emits it (the shape of a real progress event, ~330 bytes of JSON). */
const draft = (i: number): EventDraft => ({
  event_type: i % 10 === 0 ? 'scraper_completed' : 'job_progress',
  status: 'running',
  progress: Math.min(100, i / 2),
  results_count: i * 3,
  message: i % 10 === 0 ? `sim-kiwi found 4 flights for MUC→BCN 2026-12-20/2026-12-27 (${i})` : `Progress: ${i} of 200 searches done`,
  metadata: { scraper: 'sim-kiwi', route: 'MUC-BCN', completed_tasks: i, total_tasks: 200 },
  timestamp: new Date().toISOString(),
});

async function withGateway<T>(env: Record<string, string>, body: (g: { host: string; gateway: ServiceProcess; log: JobEventLog }) => Promise<T>): Promise<T> {
  const name = `scout_bench_s6_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: ADMIN_DB });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const dbUrl = new URL(ADMIN_DB);
  dbUrl.pathname = `/${name}`;
  const prefix = `${name}:`;
  const redis = new Redis(REDIS_URL);
  const gateway = await startService('gateway', { REDIS_URL, DATABASE_URL: dbUrl.toString(), KEY_PREFIX: prefix, PORT: '0', LOG_LEVEL: 'info', AUTH_ENABLED: 'false', ...env });
  try {
    const host = `127.0.0.1:${await gatewayPort(gateway)}`;
    return await body({ host, gateway, log: new JobEventLog(redis, new RedisKeys(prefix), { maxEvents: 1000, retentionSeconds: 600 }) });
  } finally {
    await gateway.stop();
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

async function openAll(urls: string[], onOpen: (ws: WebSocket, i: number) => void, count: { messages: number }): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let start = 0; start < urls.length; start += 200) {
    await Promise.all(
      urls.slice(start, start + 200).map(
        (url, k) =>
          new Promise<void>((resolve, reject) => {
            const ws = new WebSocket(url, { perMessageDeflate: false });
            ws.on('message', () => count.messages++);
            ws.once('open', () => {
              onOpen(ws, start + k);
              resolve();
            });
            ws.once('error', reject);
            sockets.push(ws);
          }),
      ),
    );
  }
  return sockets;
}

/** One phase: connect, wait for every initial frame, publish, count deliveries and gateway CPU. */
async function phase(kind: 'mux' | 'single'): Promise<Record<string, number>> {
  return withGateway({ WS_COMPRESSION: 'off' }, async ({ host, gateway, log }) => {
    for (let job = 1; job <= JOBS; job++) await log.append(job, draft(0));
    const rssBefore = rssBytes(gateway.pid);
    const count = { messages: 0 };
    const subscriptions = kind === 'mux' ? MUX * PER_CONN : SINGLE;
    const jobOf = (i: number) => (i % JOBS) + 1;
    const sockets =
      kind === 'mux'
        ? await openAll(Array.from({ length: MUX }, () => `ws://${host}/ws`), (ws, i) => {
            for (let k = 0; k < PER_CONN; k++) ws.send(JSON.stringify({ type: 'subscribe', job_id: jobOf(i * PER_CONN + k) }));
          }, count)
        : await openAll(Array.from({ length: SINGLE }, (_, i) => `ws://${host}/ws/scraping/${jobOf(i)}`), () => undefined, count);
    const initial = kind === 'mux' ? 2 * subscriptions : subscriptions; // (subscribed +) snapshot
    for (let t = 0; count.messages < initial && t < 600; t++) await sleep(100);
    await sleep(1000);
    const rssAfter = rssBytes(gateway.pid);
    count.messages = 0;
    const cpuBefore = cpuMs(gateway.pid);
    const started = performance.now();
    const total = JOBS * EVENTS_PER_JOB;
    for (let i = 0; i < total; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, total - i) }, (_, k) => log.append(jobOf(i + k), draft(1 + Math.floor((i + k) / JOBS)))));
      const due = started + ((i + 50) / RATE) * 1000;
      await sleep(Math.max(0, due - performance.now()));
    }
    const expected = (total * subscriptions) / JOBS;
    for (let t = 0; count.messages < expected && t < 300; t++) await sleep(100);
    const cpu = cpuMs(gateway.pid) - cpuBefore;
    for (const ws of sockets) ws.terminate();
    return {
      connections: sockets.length,
      subscriptions,
      deliveries: count.messages,
      expected,
      gatewayCpuMs: cpu,
      deliveriesPerCpuSecond: Math.round(count.messages / (cpu / 1000)),
      rssPerSubscriptionBytes: Math.round((rssAfter - rssBefore) / subscriptions),
    };
  });
}

/** Wire bytes per event for one client of each encoding, 200 events of one job. */
async function bytesPerEvent(compression: 'shared' | 'dedicated'): Promise<Record<string, number>> {
  return withGateway({ WS_COMPRESSION: compression }, async ({ host, log }) => {
    await log.append(1, draft(0));
    const variants: [string, WebSocket][] = [
      ['json', new WebSocket(`ws://${host}/ws`, { perMessageDeflate: false })],
      ['json+deflate', new WebSocket(`ws://${host}/ws`, { perMessageDeflate: true })],
      ['msgpack', new WebSocket(`ws://${host}/ws`, [SUBPROTOCOL_MSGPACK], { perMessageDeflate: false })],
      ['msgpack+deflate', new WebSocket(`ws://${host}/ws`, [SUBPROTOCOL_MSGPACK], { perMessageDeflate: true })],
    ];
    const counts = new Map<string, number>();
    await Promise.all(variants.map(([, ws]) => new Promise((r) => ws.once('open', r))));
    for (const [name, ws] of variants) {
      counts.set(name, 0);
      ws.on('message', () => counts.set(name, counts.get(name)! + 1));
      ws.send(JSON.stringify({ type: 'subscribe', job_id: 1 }));
    }
    while ([...counts.values()].some((n) => n < 2)) await sleep(20);
    const before = variants.map(([, ws]) => (ws as unknown as { _socket: { bytesRead: number } })._socket.bytesRead);
    for (let i = 1; i <= 200; i++) await log.append(1, draft(i));
    while ([...counts.values()].some((n) => n < 202)) await sleep(20);
    const out: Record<string, number> = {};
    variants.forEach(([name, ws], k) => {
      out[name] = Math.round(((ws as unknown as { _socket: { bytesRead: number } })._socket.bytesRead - before[k]!) / 200);
      ws.terminate();
    });
    return out;
  });
}

const loadAvg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`S6: ${MUX} connections × ${PER_CONN} jobs on /ws vs ${SINGLE} single-job connections; ${JOBS} jobs, ${EVENTS_PER_JOB} events each at ${RATE}/s; load ${loadAvg()}`);
const single = await phase('single');
console.log('single-job connections', JSON.stringify(single));
const mux = await phase('mux');
console.log('multiplexed /ws       ', JSON.stringify(mux));
console.log(`multiplexed / single deliveries per CPU-second: ${(mux.deliveriesPerCpuSecond! / single.deliveriesPerCpuSecond!).toFixed(2)}`);
for (const compression of ['shared', 'dedicated'] as const) {
  const bytes = await bytesPerEvent(compression);
  const ratio = (k: string) => `${Math.round((bytes[k]! / bytes.json!) * 100)} %`;
  console.log(`bytes/event (WS_COMPRESSION=${compression}): ${JSON.stringify(bytes)}; of JSON: deflate ${ratio('json+deflate')}, msgpack ${ratio('msgpack')}, msgpack+deflate ${ratio('msgpack+deflate')}`);
}
console.log(`load at the end ${loadAvg()}`);
process.exit(0);
