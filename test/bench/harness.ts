import { setTimeout as sleep } from 'node:timers/promises';
import { monoUs } from './lib/clock.js';
import { cpuSeconds, loadAverage, sumCpuSeconds, sumSysSeconds } from './lib/proc.js';
import type { ClientPool, PhaseStats } from './load-client/client-pool.js';
import type { ConnectionSpec } from './load-client/messages.js';
import type { Publisher } from './publisher/publisher-client.js';
import type { Sizes } from './sizes.js';
import type { SetupCache } from './scenarios/with-system.js';
import type { ServerEnv, ServerGroup, SystemDef, SystemName } from './systems.js';

/** Everything a scenario needs from the run. */
export interface BenchContext {
  sizes: Sizes;
  smoke: boolean;
  systems: SystemDef[];
  serverEnv: ServerEnv;
  redisUrl: string;
  redisPid: number | null;
  /** Job ids are never reused within a run: each caller gets a fresh range. */
  allocJobs(count: number): [number, number];
  /** Set when single-process setups are kept across scenarios (the smoke run). */
  setupCache: SetupCache | null;
  log(message: string): void;
}

/** One row of the report: a system's figures in one scenario step. */
export interface Figures {
  scenario: string;
  step: string;
  system: SystemName;
  connections: number;
  jobs: number;
  /** Events per second asked of the publisher (all jobs together). */
  rate: number;
  published: number;
  expected: number;
  delivered: number;
  deliveredShare: number;
  elapsedS: number;
  deliveredPerS: number;
  serverCpuS: number;
  /** Deliveries per CPU-second of the server processes: the figure that holds on a shared machine. */
  deliveriesPerCpuS: number;
  serverCpuPct: number;
  /** Share of the server CPU spent in the kernel. */
  serverSysShare: number;
  clientCpuPct: number;
  redisCpuPct: number;
  publisherCpuPct: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  lost: number;
  /** Not yet delivered when the phase was cut off (open connections). */
  late: number;
  duplicates: number;
  reordered: number;
  lossyConnections: number;
  closes: Record<string, number>;
  resumes: number;
  serverRssMb: number;
  rssPerConnKb: number | null;
  loadAvg1: number;
  sustained: boolean;
  /** S3: connections opened per second. */
  connectsPerS?: number;
  /** S3: server CPU (user + kernel) per connection opened, in microseconds. */
  serverUsPerConnect?: number;
  /** S3: connections that received the event sent after the hold. */
  alive?: number;
  /** S4: time from the drop until a client received the first event emitted after it. */
  catchUp?: { clients: number; p50Ms: number; p99Ms: number; maxMs: number; reconnectMs: number };
  notes: string[];
}

/** CPU seconds of everything that takes part, read at one moment. */
export interface CpuSample {
  atUs: number;
  server: number;
  /** Of which in the kernel (socket writes, loopback TCP). */
  serverSys: number;
  clients: number;
  redis: number;
  publisher: number;
}

export function sampleCpu(ctx: BenchContext, servers: ServerGroup, clients: ClientPool, publisher: Publisher | null): CpuSample {
  return {
    atUs: monoUs(),
    server: servers.cpuSeconds(),
    serverSys: sumSysSeconds(servers.pids),
    clients: sumCpuSeconds(clients.pids),
    redis: ctx.redisPid ? cpuSeconds(ctx.redisPid) : 0,
    publisher: publisher ? cpuSeconds(publisher.pid) : 0,
  };
}

export function load1(): number {
  return loadAverage()[0];
}

/** Connection specs: `perJob` connections for each job of the range, spread over the servers' ports. */
export function specsFor(servers: ServerGroup, [first, last]: [number, number], perJob: number): ConnectionSpec[] {
  const specs: ConnectionSpec[] = [];
  let n = 0;
  for (let k = 0; k < perJob; k++) for (let job = first; job <= last; job++) specs.push({ job, port: servers.portFor(n++) });
  return specs;
}

/**
 * Waits until every connection received a live event, publishing one event per job every round:
 * the peers send nothing before their first event (a client whose join is still on its way would
 * miss the phase's first events), and our gateway serves a joining client its first live event
 * directly before it joins the job's topic — a path measured phases should not include.
 */
export async function warmUp(clients: ClientPool, publisher: Publisher, jobs: [number, number], connections: number, maxMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  const count = jobs[1] - jobs[0] + 1;
  for (;;) {
    const p = await clients.progress();
    if (p.live >= connections) break;
    if (Date.now() > deadline) return false;
    await publisher.emitOnce(jobs[0], jobs[1]);
    await sleep(150);
  }
  return true;
}

/** Waits until the clients received `expected` distinct events, or stopped receiving for `idleMs`, or `maxMs` passed. */
export async function drain(clients: ClientPool, expected: number, maxMs: number, idleMs = 1000): Promise<{ complete: boolean; unique: number }> {
  const deadline = Date.now() + maxMs;
  let last = -1;
  let since = Date.now();
  for (;;) {
    const p = await clients.progress();
    if (p.unique >= expected) return { complete: true, unique: p.unique };
    if (p.unique !== last) {
      last = p.unique;
      since = Date.now();
    } else if (Date.now() - since > idleMs) {
      return { complete: false, unique: p.unique };
    }
    if (Date.now() > deadline) return { complete: false, unique: p.unique };
    await sleep(100);
  }
}

export function quantileMs(stats: PhaseStats, q: number): number {
  const us = stats.latency.quantile(q);
  return Number.isNaN(us) ? NaN : us / 1000;
}

export interface PublishPhase {
  scenario: string;
  step: string;
  jobs: [number, number];
  /** Connections per job id (index = job id). */
  connsOfJob: (job: number) => number;
  connections: number;
  rate: number;
  durationMs: number;
  drainMs: number;
  /** Sustained when p99 is under this and at least `minShare` was delivered. */
  maxP99Ms: number;
  minShare: number;
}

/**
 * One measured phase: mark what each connection holds, publish at a fixed rate through the real
 * emit path, wait for delivery to finish (bounded), and read every figure.
 */
export async function publishPhase(ctx: BenchContext, servers: ServerGroup, clients: ClientPool, publisher: Publisher, phase: PublishPhase): Promise<Figures> {
  const loadAvg1 = load1();
  const bases = await publisher.seqs();
  await clients.reset(bases);
  const profileName = `${phase.scenario}-${servers.def.name}-${phase.step.replace(/[^A-Za-z0-9]+/g, '_')}`;
  const { before, after, run, expected, drained } = await servers.profiled(ctx.serverEnv.profileDir, profileName, async () => {
    const before = sampleCpu(ctx, servers, clients, publisher);
    const run = await publisher.run(phase.jobs[0], phase.jobs[1], phase.rate, phase.durationMs);
    let expected = 0;
    for (let job = phase.jobs[0]; job <= phase.jobs[1]; job++) expected += phase.connsOfJob(job) * ((run.seqs[job] ?? 0) - (bases[job] ?? 0));
    const drained = await drain(clients, expected, phase.drainMs);
    const after = sampleCpu(ctx, servers, clients, publisher);
    return { before, after, run, expected, drained };
  });
  const stats = await clients.stats(run.seqs);
  const wallS = (after.atUs - before.atUs) / 1e6;
  const deliveryS = Math.max(run.elapsedMs / 1000, stats.lastReceiptUs > before.atUs ? (stats.lastReceiptUs - before.atUs) / 1e6 : 0);
  const figures = figuresOf(ctx, servers, phase, stats, before, after, {
    published: run.published,
    expected,
    elapsedS: deliveryS > 0 ? deliveryS : wallS,
    loadAvg1,
  });
  if (!drained.complete) figures.notes.push(`delivery unfinished after ${phase.drainMs / 1000} s of drain`);
  if (run.failed > 0) figures.notes.push(`${run.failed} emits failed`);
  if (run.maxLagMs > 250) figures.notes.push(`publisher fell ${Math.round(run.maxLagMs)} ms behind its schedule`);
  return figures;
}

export function figuresOf(
  ctx: BenchContext,
  servers: ServerGroup,
  phase: Pick<PublishPhase, 'scenario' | 'step' | 'jobs' | 'connections' | 'rate' | 'maxP99Ms' | 'minShare'>,
  stats: PhaseStats,
  before: CpuSample,
  after: CpuSample,
  extra: { published: number; expected: number; elapsedS: number; loadAvg1: number },
): Figures {
  const wallS = (after.atUs - before.atUs) / 1e6;
  const serverCpuS = after.server - before.server;
  const p99Ms = quantileMs(stats, 0.99);
  const share = extra.expected > 0 ? stats.unique / extra.expected : 1;
  const pct = (cpu: number) => (wallS > 0 ? (cpu / wallS) * 100 : 0);
  return {
    scenario: phase.scenario,
    step: phase.step,
    system: servers.def.name,
    connections: phase.connections,
    jobs: phase.jobs[1] - phase.jobs[0] + 1,
    rate: phase.rate,
    published: extra.published,
    expected: extra.expected,
    delivered: stats.unique,
    deliveredShare: share,
    elapsedS: extra.elapsedS,
    deliveredPerS: extra.elapsedS > 0 ? stats.unique / extra.elapsedS : 0,
    serverCpuS,
    deliveriesPerCpuS: serverCpuS > 0 ? stats.unique / serverCpuS : 0,
    serverCpuPct: pct(serverCpuS),
    serverSysShare: serverCpuS > 0 ? (after.serverSys - before.serverSys) / serverCpuS : 0,
    clientCpuPct: pct(after.clients - before.clients),
    redisCpuPct: pct(after.redis - before.redis),
    publisherCpuPct: pct(after.publisher - before.publisher),
    p50Ms: quantileMs(stats, 0.5),
    p90Ms: quantileMs(stats, 0.9),
    p99Ms,
    maxMs: stats.latency.total > 0 ? stats.latency.max / 1000 : NaN,
    lost: stats.lost,
    late: stats.late,
    duplicates: stats.duplicates,
    reordered: stats.reordered,
    lossyConnections: stats.lossyConnections,
    closes: stats.closes,
    resumes: stats.resumes,
    serverRssMb: servers.rssKb() / 1024,
    rssPerConnKb: null,
    loadAvg1: extra.loadAvg1,
    sustained: share >= phase.minShare && !(p99Ms >= phase.maxP99Ms),
    notes: [],
  };
}
