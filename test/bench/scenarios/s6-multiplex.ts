import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { SUBPROTOCOL_MSGPACK } from '../../../shared/protocol-v2.js';
import type { BenchContext } from '../harness.js';
import type { CountCommand, CountConnection, CountReply } from '../load-client/count-client-main.js';
import { IpcChild } from '../load-client/ipc-child.js';
import { benchWatchToken } from '../lib/watch-token.js';
import { Publisher } from '../publisher/publisher-client.js';
import type { TargetCheck } from '../report.js';
import { ServerGroup, SYSTEMS, type ServerEnv } from '../systems.js';

const COUNT_CLIENT = new URL('../load-client/count-client-main.ts', import.meta.url).href;
const OPEN_FILES = 20_000;
/** Wire bytes are measured on a multiplexed connection of each kind. */
const ENCODINGS = ['json', 'json+deflate', 'msgpack', 'msgpack+deflate'] as const;
type Encoding = (typeof ENCODINGS)[number];
const COMPRESSORS = ['shared', 'dedicated'] as const;

export interface MultiplexSizes {
  /** Multiplexed `/ws` connections, each subscribing to `jobsPerConnection` jobs. */
  connections: number;
  jobsPerConnection: number;
  /** Jobs the subscriptions spread over (the same for both kinds: as many subscribers per job). */
  jobs: number;
  eventsPerJob: number;
  rate: number;
  /** Gateway processes on one port (20,000 single-job connections exceed one process's descriptors). */
  gatewayProcesses: number;
  clientProcesses: number;
  /** Events of the wire-bytes measurement. */
  bytesEvents: number;
}

export interface MultiplexPhase {
  kind: 'multiplexed /ws' | 'single-job connections';
  connections: number;
  subscriptions: number;
  opened: number;
  published: number;
  expected: number;
  delivered: number;
  gatewayCpuS: number;
  deliveriesPerCpuS: number;
  usPerDelivery: number;
  rssPerSubscriptionBytes: number;
  elapsedS: number;
}

export interface MultiplexFigures {
  sizes: MultiplexSizes;
  auth: boolean;
  phases: MultiplexPhase[];
  /** Multiplexed deliveries per gateway CPU-second over single-job ones. */
  ratio: number;
  /** Wire bytes per event (TCP bytes read, frame headers included) by WS_COMPRESSION (the smoke run: shared only). */
  bytes: Partial<Record<(typeof COMPRESSORS)[number], Record<Encoding, number>>>;
}

/** The gateway as S6 runs it: compression off for the delivery phases, the per-address limits far above the loopback load. */
function gatewayEnv(ctx: BenchContext, compression: string): ServerEnv {
  return {
    ...ctx.serverEnv,
    extraEnv: { ...ctx.serverEnv.extraEnv, WS_COMPRESSION: compression, MAX_CONNECTIONS_PER_IP: '10000000', RATE_LIMIT_UPGRADES_PER_SECOND_PER_IP: '10000000' },
  };
}

const authOn = (ctx: BenchContext) => ctx.serverEnv.extraEnv?.AUTH_ENABLED === 'true';

/**
 * S6, protocol v2: the same subscriptions held as multiplexed `/ws` connections (N jobs each)
 * and as one legacy connection per job, in gateway CPU per delivery and RSS per subscription;
 * then wire bytes per event for JSON, JSON + permessage-deflate and MessagePack.
 */
export async function runS6(ctx: BenchContext, sizes: MultiplexSizes): Promise<MultiplexFigures> {
  const phases: MultiplexPhase[] = [];
  for (const mux of [false, true]) {
    const phase = await deliveryPhase(ctx, sizes, mux);
    ctx.log(`  ${phase.kind}: ${phase.delivered}/${phase.expected} delivered, ${Math.round(phase.deliveriesPerCpuS)} per gateway CPU-s, ${(phase.rssPerSubscriptionBytes / 1024).toFixed(2)} KB RSS per subscription`);
    phases.push(phase);
  }
  const bytes = {} as MultiplexFigures['bytes'];
  for (const compression of ctx.smoke ? (['shared'] as const) : COMPRESSORS) {
    bytes[compression] = await wireBytes(ctx, sizes, compression);
    ctx.log(`  bytes per event, WS_COMPRESSION=${compression}: ${JSON.stringify(bytes[compression])}`);
  }
  return { sizes, auth: authOn(ctx), phases, ratio: phases[1]!.deliveriesPerCpuS / phases[0]!.deliveriesPerCpuS, bytes };
}

async function deliveryPhase(ctx: BenchContext, sizes: MultiplexSizes, mux: boolean): Promise<MultiplexPhase> {
  const servers = await ServerGroup.start(SYSTEMS.gateway, gatewayEnv(ctx, 'off'), { processes: sizes.gatewayProcesses, openFiles: OPEN_FILES });
  const publisher = await Publisher.start({ redisUrl: ctx.redisUrl, keyPrefix: ctx.serverEnv.keyPrefix, socketIoKey: null });
  const clients = Array.from({ length: sizes.clientProcesses }, () => IpcChild.fork<CountCommand, CountReply>(COUNT_CLIENT, OPEN_FILES));
  try {
    await Promise.all(clients.map((c) => c.ready));
    const [first, last] = ctx.allocJobs(sizes.jobs);
    await publisher.createJobs(first, last);
    const subscriptions = sizes.connections * sizes.jobsPerConnection;
    const jobAt = (i: number) => first + (i % sizes.jobs);
    const connections: CountConnection[] = mux
      ? Array.from({ length: sizes.connections }, (_, c) => ({ port: servers.portFor(c), mux, jobs: Array.from({ length: sizes.jobsPerConnection }, (_, k) => jobAt(c * sizes.jobsPerConnection + k)) }))
      : Array.from({ length: subscriptions }, (_, i) => ({ port: servers.portFor(i), mux, jobs: [jobAt(i)] }));

    if (!ctx.smoke) await sleep(1000);
    const rssBefore = servers.rssKb();
    const per = Math.ceil(connections.length / clients.length);
    const connected = await Promise.all(
      clients.map((c, i) =>
        c.request<Extract<CountReply, { type: 'connected' }>>({ type: 'connect', connections: connections.slice(i * per, (i + 1) * per), globalOffset: i * per, auth: authOn(ctx), window: 64, timeoutMs: 30_000 }),
      ),
    );
    const opened = connected.reduce((a, r) => a + r.opened, 0);
    const failed = connected.filter((r) => r.failed > 0).map((r) => JSON.stringify(r.errors));
    if (failed.length > 0) ctx.log(`  connects failed: ${failed.join(' ')}`);
    const frames = async () => (await Promise.all(clients.map((c) => c.request<Extract<CountReply, { type: 'count' }>>({ type: 'count' })))).reduce((a, r) => a + r.frames, 0);
    // Every subscription's first frames: `subscribed` (on /ws) and the job's snapshot.
    const initial = mux ? 2 * subscriptions : subscriptions;
    for (const until = Date.now() + 60_000; (await frames()) < initial && Date.now() < until; ) await sleep(200);
    await sleep(ctx.smoke ? 200 : 1000);
    const rssAfter = servers.rssKb();

    const before = await frames();
    const cpuBefore = servers.cpuSeconds();
    const started = performance.now();
    const run = await publisher.run(first, last, sizes.rate, (sizes.jobs * sizes.eventsPerJob * 1000) / sizes.rate);
    const expected = (run.published * subscriptions) / sizes.jobs;
    let delivered = 0;
    let lastChange = Date.now();
    for (const until = Date.now() + 60_000; delivered < expected && Date.now() < until && Date.now() - lastChange < 5000; ) {
      await sleep(100);
      const now = (await frames()) - before;
      if (now !== delivered) lastChange = Date.now();
      delivered = now;
    }
    const gatewayCpuS = servers.cpuSeconds() - cpuBefore;
    return {
      kind: mux ? 'multiplexed /ws' : 'single-job connections',
      connections: connections.length,
      subscriptions,
      opened,
      published: run.published,
      expected,
      delivered,
      gatewayCpuS,
      deliveriesPerCpuS: delivered / gatewayCpuS,
      usPerDelivery: (gatewayCpuS * 1e6) / delivered,
      rssPerSubscriptionBytes: ((rssAfter - rssBefore) * 1024) / subscriptions,
      elapsedS: (performance.now() - started) / 1000,
    };
  } finally {
    await Promise.all(clients.map((c) => c.exit()));
    await publisher.close();
    await servers.stop();
  }
}

/** One multiplexed connection of each encoding on one job; TCP bytes read per event. */
async function wireBytes(ctx: BenchContext, sizes: MultiplexSizes, compression: string): Promise<Record<Encoding, number>> {
  const servers = await ServerGroup.start(SYSTEMS.gateway, gatewayEnv(ctx, compression));
  const publisher = await Publisher.start({ redisUrl: ctx.redisUrl, keyPrefix: ctx.serverEnv.keyPrefix, socketIoKey: null });
  const sockets = new Map<Encoding, WebSocket>();
  try {
    const [job] = ctx.allocJobs(1);
    await publisher.createJobs(job, job);
    const url = `ws://127.0.0.1:${servers.portFor(0)}/ws`;
    for (const e of ENCODINGS) sockets.set(e, new WebSocket(url, e.startsWith('msgpack') ? [SUBPROTOCOL_MSGPACK] : [], { perMessageDeflate: e.endsWith('deflate') }));
    const counts = new Map<Encoding, number>(ENCODINGS.map((e) => [e, 0]));
    await Promise.all([...sockets.values()].map((ws) => new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))));
    for (const [e, ws] of sockets) {
      ws.on('message', () => counts.set(e, counts.get(e)! + 1));
      ws.send(JSON.stringify({ type: 'subscribe', job_id: job, ...(authOn(ctx) ? { token: benchWatchToken(job) } : {}) }));
    }
    const waitFor = async (n: number) => {
      for (const until = Date.now() + 30_000; [...counts.values()].some((c) => c < n) && Date.now() < until; ) await sleep(20);
    };
    await waitFor(2); // subscribed + snapshot
    const bytesRead = (ws: WebSocket) => (ws as unknown as { _socket: { bytesRead: number } })._socket.bytesRead;
    const before = new Map([...sockets].map(([e, ws]) => [e, bytesRead(ws)]));
    const run = await publisher.run(job, job, 200, (sizes.bytesEvents * 1000) / 200);
    await waitFor(2 + run.published);
    return Object.fromEntries(ENCODINGS.map((e) => [e, Math.round((bytesRead(sockets.get(e)!) - before.get(e)!) / run.published)])) as Record<Encoding, number>;
  } finally {
    for (const ws of sockets.values()) ws.terminate();
    await publisher.close();
    await servers.stop();
  }
}

const n0 = (x: number) => Math.round(x).toLocaleString('en-US');
const pct = (part: number, whole: number) => `${Math.round((part / whole) * 100)} %`;

/** The smallest of MessagePack's and deflate's bytes per event, as a share of JSON's. */
function bestShare(f: MultiplexFigures): { share: number; what: string } {
  let best = { share: Infinity, what: '' };
  for (const b of Object.values(f.bytes)) {
    for (const e of ['json+deflate', 'msgpack', 'msgpack+deflate'] as const) {
      const share = b[e] / b.json;
      if (share < best.share) best = { share, what: e === 'msgpack' ? 'MessagePack' : e };
    }
  }
  return best;
}

export function multiplexTargets(f: MultiplexFigures, smoke: boolean): TargetCheck[] {
  const all = f.phases.every((p) => p.delivered === p.expected && p.opened === p.connections);
  const delivered = f.phases.map((p) => `${p.kind} ${n0(p.delivered)} of ${n0(p.expected)}`).join(', ');
  if (smoke) return [{ scenario: 'S6', target: 'every subscription got every event, multiplexed and single-job', measured: delivered, met: all }];
  const best = bestShare(f);
  return [
    { scenario: 'S6', target: 'multiplexed deliveries per gateway CPU-second ≥ single-job connections’', measured: `${f.ratio.toFixed(2)} × (${delivered})`, met: f.ratio >= 1 && all },
    { scenario: 'S6', target: 'MessagePack or deflate ≤ 60 % of JSON’s bytes per event', measured: `${Math.round(best.share * 100)} % (${best.what})`, met: best.share <= 0.6 },
  ];
}

export function renderMultiplex(f: MultiplexFigures): string[] {
  const s = f.sizes;
  const out = [
    `The same ${n0(s.connections * s.jobsPerConnection)} subscriptions over ${s.jobs} jobs, held as ${n0(s.connections)} \`/ws\` connections of ${s.jobsPerConnection} jobs each and as ${n0(s.connections * s.jobsPerConnection)} legacy single-job connections, ` +
      `${s.gatewayProcesses} gateway process${s.gatewayProcesses > 1 ? 'es' : ''} on one port (compression off, access control ${f.auth ? 'on' : 'off'}); ${s.eventsPerJob} events per job at ${n0(s.rate)} events/s. ` +
      'CPU and RSS are the gateway processes’ (RSS after every subscription got its snapshot, over the RSS before the first connection).',
    '',
    '| connections | subscriptions | delivered / expected | gateway CPU | deliveries per CPU-s | µs per delivery | RSS per subscription |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const p of f.phases) {
    out.push(`| ${p.kind} (${n0(p.connections)}) | ${n0(p.subscriptions)} | ${n0(p.delivered)} / ${n0(p.expected)} | ${p.gatewayCpuS.toFixed(2)} s | ${n0(p.deliveriesPerCpuS)} | ${p.usPerDelivery.toFixed(2)} | ${(p.rssPerSubscriptionBytes / 1024).toFixed(2)} KB |`);
  }
  out.push('', `Multiplexed over single-job: ${f.ratio.toFixed(2)} × the deliveries per gateway CPU-second.`, '');
  out.push(
    `Wire bytes per event (TCP bytes a \`/ws\` client reads, frame headers included; ${s.bytesEvents} progress events of ~300 bytes of JSON). ` +
      '`shared`: one deflate per publish for all compressing sockets, no window kept between frames; `dedicated`: a 32 KB window per socket, so repeated fields compress across frames.',
    '',
    '| WS_COMPRESSION | JSON | JSON + deflate | MessagePack | MessagePack + deflate |',
    '|---|---:|---:|---:|---:|',
  );
  for (const [compression, b] of Object.entries(f.bytes)) {
    out.push(`| ${compression} | ${b.json} | ${b['json+deflate']} (${pct(b['json+deflate'], b.json)}) | ${b.msgpack} (${pct(b.msgpack, b.json)}) | ${b['msgpack+deflate']} (${pct(b['msgpack+deflate'], b.json)}) |`);
  }
  return out;
}

