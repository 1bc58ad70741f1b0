import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { EventDraft } from '../../../shared/events.js';
import { emitScriptCall, JobEventLog, type PublishMode } from '../../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../../shared/redis/keys.js';
import { RedisEventSink } from '../../../worker/events/redis-event-sink.js';
import { PrivateRedis } from '../../helpers/private-redis.js';
import { cpuSeconds } from '../lib/proc.js';
import type { TargetCheck } from '../report.js';

const run = promisify(execFile);

export interface EmitCostSizes {
  /** Script calls (or PUBLISHes) per measured run. */
  calls: number;
  /**
   * Jobs the calls are spread over at random (redis-benchmark's -r): enough that each job gets a
   * few dozen events a run, as a real job does (S5: 34), so histories stay short of their cap.
   */
  jobs: number;
  /** redis-benchmark connections and commands pipelined per connection: a loaded Redis. */
  connections: number;
  pipeline: number;
  /** Commands in flight from the one ioredis connection of the workers' client. */
  nodeWindow: number;
  /** Rounds of each kind, alternating, so that a burst of other load on the machine hits all. */
  rounds: number;
  /**
   * The closed loop through the worker's event sink: jobs, each emitting its next events once the
   * last ones are applied (as a job's progress tracker does), over this many sinks (worker
   * processes, one connection each); one event at a time, and a scraper task's end at a time.
   */
  loopJobs: number;
  loopSinks: number;
  /** Shard counts of the events-per-second table. */
  shards: number[];
  /** Seconds each shard table row runs. */
  shardSeconds: number;
}

export interface EmitCostRow {
  /**
   * 'ioredis': one connection, commands sent one by one as a worker does; 'redis-benchmark': a C
   * client pipelining; 'closed loop': jobs emitting one event after another, through the worker's
   * event sink or as bare PUBLISHes.
   */
  client: 'ioredis' | 'redis-benchmark' | 'closed loop';
  /**
   * 'emit ×1': one event per script call; 'emit ×3': three (what the sink sends when a task ends,
   * about what jobs with 100 ms scrapers average: 3.1 a call); 'emit ×8': eight (jobs with 0 ms
   * scrapers average 8.5 a call); 'emit ×1, 8 jobs a call': one event for each of eight jobs
   * (sections of one call); 'publish': a bare PUBLISH.
   */
  what: string;
  events: number;
  redisCpuS: number;
  /** Redis CPU (user + kernel) per event, in microseconds, and per 100,000 events in seconds. */
  usPerEvent: number;
  cpuSPer100k: number;
  /** Over the bare PUBLISH of the same event. */
  ratio: number;
  /** Events per second one Redis core sustains: one CPU-second over the CPU of one event. */
  eventsPerCoreS: number;
  /** Events per second reached here (client and Redis share the machine). */
  achievedPerS: number;
  /** Through the sink: script calls, and the jobs (sections) and events a call carried on average. */
  calls?: { count: number; sectionsPerCall: number; eventsPerCall: number };
}

export interface ShardRow {
  shards: number;
  eventsPerS: number;
  redisCpuPct: number;
}

export interface EmitCostFigures {
  sizes: EmitCostSizes;
  rows: EmitCostRow[];
  shardTable: ShardRow[];
  notes: string[];
}

const EMIT_SCRIPT = readFileSync(new URL('../../../shared/redis/emit-events-n.lua', import.meta.url), 'utf8');
const PREFIX = 'emitcost:';

function draft(i: number): EventDraft {
  return {
    event_type: 'scraper_completed',
    status: 'running',
    progress: (i * 7) % 100,
    results_count: i,
    message: 'sim-kiwi found 12 flights for MUC-BCN (2026-12-01/2026-12-08)',
    metadata: { scraper: 'sim-kiwi', route: 'MUC-BCN', dates: '2026-12-01/2026-12-08', results_count: 12 },
    timestamp: new Date().toISOString(),
  };
}

/** One redis-server and a subscriber on every job channel; redis-benchmark (a C client) as load. */
class Shard {
  private constructor(
    readonly server: PrivateRedis,
    readonly pid: number,
    readonly admin: Redis,
    readonly subscriber: Redis,
    readonly emitSha: string,
  ) {}

  received = 0;

  static async start(jobs: number, mode: PublishMode, loopJobs = 0): Promise<Shard> {
    const server = await PrivateRedis.start();
    const admin = new Redis(server.url);
    // The subscriber may fall behind a C client for a moment: no disconnect for that.
    await admin.config('SET', 'client-output-buffer-limit', 'pubsub 0 0 0');
    const pid = Number(/process_id:(\d+)/.exec(await admin.info('server'))?.[1]);
    const emitSha = (await admin.script('LOAD', EMIT_SCRIPT)) as string;
    const subscriber = new Redis(server.url);
    const shard = new Shard(server, pid, admin, subscriber, emitSha);
    const loopKeys = new RedisKeys(PREFIX);
    const channels = [...Array.from({ length: jobs }, (_, i) => channelOf(i)), ...loopJobIds(loopJobs).map((id) => loopKeys.jobChannel(id))];
    if (mode === 'SPUBLISH') {
      subscriber.on('smessageBuffer', () => shard.received++);
      await subscriber.ssubscribe(...channels);
    } else {
      subscriber.on('messageBuffer', () => shard.received++);
      await subscriber.subscribe(...channels);
    }
    return shard;
  }

  cpu(): number {
    return cpuSeconds(this.pid);
  }

  async stop(): Promise<void> {
    this.subscriber.disconnect();
    this.admin.disconnect();
    await this.server.stop();
  }
}

/** The jobs of the closed loop (ids no redis-benchmark job name takes). */
function loopJobIds(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i + 1);
}

/** redis-benchmark's 12-digit job numbers, as the channel names it will publish to. */
function channelOf(job: number): string {
  return `${PREFIX}{job:${String(job).padStart(12, '0')}}:events`;
}

/** A command naming `sections` jobs: `of` puts in the job number of each (a 12-digit string). */
interface CommandOf {
  sections: number;
  of(jobOf: (section: number) => string): string[];
}

/**
 * The emit script call JobEventLog makes, `events` events for each of `jobs` jobs (sections):
 * the jobs in the key names come from `jobOf` (redis-benchmark: '__rand_int__', a random job).
 */
function emitCommand(shard: Shard, events: number, mode: PublishMode, jobs = 1): CommandOf {
  const limits = { maxEvents: 10_000, retentionSeconds: 24 * 3600 };
  const sections = Array.from({ length: jobs }, () => ({ jobId: 7, events: Array.from({ length: events }, (_, i) => draft(i)) }));
  const call = emitScriptCall(new RedisKeys(PREFIX), limits, mode, sections).map(String);
  const args = call.slice(1 + 3 * jobs);
  return {
    sections: jobs,
    of: (jobOf) => {
      const keys = Array.from({ length: jobs }, (_, s) => {
        const job = `{job:${jobOf(s)}}`;
        return [`${PREFIX}${job}:state`, `${PREFIX}${job}:history`, `${PREFIX}${job}:events`];
      }).flat();
      return ['EVALSHA', shard.emitSha, String(3 * jobs), ...keys, ...args];
    },
  };
}

const RANDOM_JOB = () => '__rand_int__';

/**
 * The same calls from one ioredis connection, `window` in flight, as a worker sends them (each
 * command its own socket write): Redis reads few commands per system call, as it does from many
 * workers. Precomputed arguments, so the client's speed varies little between the kinds.
 */
async function fromNode(shard: Shard, sizes: EmitCostSizes, command: CommandOf, calls: number): Promise<{ cpuS: number; wallS: number; perS: number }> {
  const client = new Redis(shard.server.url);
  try {
    await client.ping();
    // Call i names jobs i·k … i·k + k − 1 (k sections), all different within a call.
    const jobs = Array.from({ length: sizes.jobs }, (_, i) => command.of((s) => String((i * command.sections + s) % sizes.jobs).padStart(12, '0')));
    const cpu0 = shard.cpu();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: sizes.nodeWindow }, async () => {
        while (next < calls) {
          const [name, ...args] = jobs[next++ % jobs.length]!;
          await client.call(name!, ...args);
        }
      }),
    );
    const wallS = (performance.now() - t0) / 1000;
    return { cpuS: shard.cpu() - cpu0, wallS, perS: calls / wallS };
  } finally {
    client.disconnect();
  }
}

/**
 * What a job emits when a scraper task ends: scraper_completed, results_updated and job_progress
 * in one tick (worker/jobs: the progress tracker), so they share a section of one call.
 */
const TASK_END_EVENTS = 3;

/**
 * The closed loop: each job emits `perJob` events, `burst` at a time (in one tick), each burst
 * once the previous one is applied, through `sinks` RedisEventSinks (one connection each, jobs
 * spread over them), as jobs on that many workers do; or the same loop with a bare PUBLISH of the
 * same serialized event per event.
 */
async function closedLoop(
  shard: Shard,
  sizes: EmitCostSizes,
  perJob: number,
  burst: number,
  through: 'sink' | 'publish',
  payload: string,
): Promise<{ cpuS: number; wallS: number; perS: number; calls: { count: number; sections: number; events: number } }> {
  const clients = Array.from({ length: sizes.loopSinks }, () => new Redis(shard.server.url));
  const keys = new RedisKeys(PREFIX);
  const calls = { count: 0, sections: 0, events: 0 };
  const onCall = (sections: number, events: number) => {
    calls.count++;
    calls.sections += sections;
    calls.events += events;
  };
  const limits = { maxEvents: 10_000, retentionSeconds: 24 * 3600 };
  const sinks = clients.map((c) => new RedisEventSink(new JobEventLog(c, keys, limits), { pipeline: true, onCall }));
  try {
    await Promise.all(clients.map((c) => c.ping()));
    // Warm the script cache of each connection (a first EVALSHA may go again as EVAL).
    await Promise.all(sinks.map((sink, i) => sink.emit(1_000_000 + i, draft(0))));
    calls.count = calls.sections = calls.events = 0;
    const drafts = Array.from({ length: 16 }, (_, i) => draft(i));
    const cpu0 = shard.cpu();
    const t0 = performance.now();
    await Promise.all(
      loopJobIds(sizes.loopJobs).map(async (jobId) => {
        const k = jobId % sizes.loopSinks;
        const one = (i: number) => (through === 'sink' ? sinks[k]!.emit(jobId, drafts[i % drafts.length]!) : clients[k]!.publish(keys.jobChannel(jobId), payload));
        for (let i = 0; i < perJob; i += burst) await Promise.all(Array.from({ length: burst }, (_, b) => one(i + b)));
      }),
    );
    const wallS = (performance.now() - t0) / 1000;
    const events = perJob * sizes.loopJobs;
    return { cpuS: shard.cpu() - cpu0, wallS, perS: events / wallS, calls };
  } finally {
    for (const c of clients) c.disconnect();
  }
}

async function benchmark(shard: Shard, sizes: EmitCostSizes, command: CommandOf, calls: number): Promise<{ cpuS: number; wallS: number; perS: number }> {
  const cpu0 = shard.cpu();
  const t0 = performance.now();
  const { stdout } = await run(
    'redis-benchmark',
    ['-h', '127.0.0.1', '-p', String(shard.server.port), '-c', String(sizes.connections), '-P', String(sizes.pipeline), '-n', String(calls), '-r', String(sizes.jobs), '-q', ...command.of(RANDOM_JOB)],
    { maxBuffer: 1 << 20 },
  );
  const wallS = (performance.now() - t0) / 1000;
  const cpuS = shard.cpu() - cpu0;
  const perS = Number(/([\d.]+) requests per second/.exec(stdout)?.[1] ?? calls / wallS);
  return { cpuS, wallS, perS };
}

/**
 * S7 emit cost. On a private redis-server with one subscriber on every job channel, Redis CPU per
 * event for the emit script (the call JobEventLog makes, one event a call and three) against a
 * bare PUBLISH of the same serialized event to the same channels, under the same load: the same
 * C client (redis-benchmark), connections and pipeline depth, so the client's own speed does not
 * decide how many commands Redis reads per system call. Redis CPU is read from /proc for the
 * server process: other programs on the machine do not count.
 *
 * Then the events-per-second table: 1, 2, 3 … shards (one redis-server each, as many masters of a
 * cluster: an emit touches one shard), each loaded by its own redis-benchmark at once, with the
 * emit script publishing over SPUBLISH as on a cluster.
 */
export async function measureEmitCost(sizes: EmitCostSizes, log: (line: string) => void = () => undefined): Promise<EmitCostFigures> {
  const notes: string[] = [];
  const rows: EmitCostRow[] = [];
  const shard = await Shard.start(sizes.jobs, 'PUBLISH', sizes.loopJobs);
  try {
    // Warm up: every job's stream exists, and a real serialized event to publish.
    await run('redis-benchmark', ['-p', String(shard.server.port), '-n', String(sizes.jobs * 4), '-r', String(sizes.jobs), '-q', ...emitCommand(shard, 1, 'PUBLISH').of(RANDOM_JOB)]);
    const history = await shard.admin.keys(`${PREFIX}*:history`);
    const payload = (await shard.admin.lindex(history[0]!, -1))!;
    const kinds: { what: string; events: number; command: CommandOf; calls: number }[] = [
      { what: 'emit ×1', events: 1, command: emitCommand(shard, 1, 'PUBLISH'), calls: sizes.calls },
      { what: 'emit ×3', events: 3, command: emitCommand(shard, 3, 'PUBLISH'), calls: Math.ceil(sizes.calls / 3) },
      { what: 'emit ×8', events: 8, command: emitCommand(shard, 8, 'PUBLISH'), calls: Math.ceil(sizes.calls / 8) },
      // One event for each of 8 jobs a call: what the sink sends when 8 jobs emit in one tick.
      { what: 'emit ×1, 8 jobs a call', events: 8, command: emitCommand(shard, 1, 'PUBLISH', 8), calls: Math.ceil(sizes.calls / 8) },
      {
        what: 'publish',
        events: 1,
        command: { sections: 1, of: (jobOf) => ['PUBLISH', `${PREFIX}{job:${jobOf(0)}}:events`, payload] },
        calls: sizes.calls,
      },
    ];
    const sentBefore = shard.received;
    let sent = 0;
    for (const [client, load] of [['ioredis', fromNode], ['redis-benchmark', benchmark]] as const) {
      const sums = new Map(kinds.map((k) => [k.what, { events: 0, cpuS: 0, wallS: 0 }]));
      for (let round = 0; round < sizes.rounds; round++) {
        for (const kind of kinds) {
          // Every run starts from an empty Redis (this one is ours): each job's first event
          // (a new stream, expiry set) weighs the same in every run.
          await shard.admin.flushall();
          const r = await load(shard, sizes, kind.command, kind.calls);
          const sum = sums.get(kind.what)!;
          sum.events += kind.calls * kind.events;
          sum.cpuS += r.cpuS;
          sum.wallS += r.wallS;
          sent += kind.calls * kind.events;
          log(`  ${client} ${kind.what}: ${((r.cpuS / (kind.calls * kind.events)) * 1e6).toFixed(2)} µs Redis CPU per event, ${Math.round(r.perS * kind.events)} events/s`);
        }
      }
      const publish = sums.get('publish')!;
      const publishUs = (publish.cpuS / publish.events) * 1e6;
      for (const kind of kinds) {
        const sum = sums.get(kind.what)!;
        const us = (sum.cpuS / sum.events) * 1e6;
        rows.push({
          client,
          what: kind.what,
          events: sum.events,
          redisCpuS: sum.cpuS,
          usPerEvent: us,
          cpuSPer100k: us / 10,
          ratio: us / publishUs,
          eventsPerCoreS: 1e6 / us,
          achievedPerS: sum.events / sum.wallS,
        });
      }
    }
    rows.push(...(await closedLoopRows(shard, sizes, payload, log)));
    sent += rows.filter((r) => r.client === 'closed loop').reduce((a, r) => a + r.events, 0);
    const deadline = Date.now() + 10_000;
    while (shard.received - sentBefore < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (shard.received - sentBefore < sent) notes.push(`the subscriber got ${shard.received - sentBefore} of ${sent} events`);
  } finally {
    await shard.stop();
  }
  return { sizes, rows, shardTable: await shardTable(sizes, log), notes };
}

/**
 * The closed loop through the sink and as bare PUBLISHes, alternating for the rounds: Redis CPU
 * per event, and how many jobs and events the sink's calls carried.
 */
async function closedLoopRows(shard: Shard, sizes: EmitCostSizes, payload: string, log: (line: string) => void): Promise<EmitCostRow[]> {
  const rows: EmitCostRow[] = [];
  for (const burst of [1, TASK_END_EVENTS]) rows.push(...(await closedLoopPair(shard, sizes, payload, burst, log)));
  return rows;
}

async function closedLoopPair(shard: Shard, sizes: EmitCostSizes, payload: string, burst: number, log: (line: string) => void): Promise<EmitCostRow[]> {
  const perJob = burst * Math.max(1, Math.round(sizes.calls / sizes.loopJobs / burst));
  const sums = { sink: { events: 0, cpuS: 0, wallS: 0 }, publish: { events: 0, cpuS: 0, wallS: 0 } };
  const calls = { count: 0, sections: 0, events: 0 };
  for (let round = 0; round < sizes.rounds; round++) {
    for (const through of ['sink', 'publish'] as const) {
      await shard.admin.flushall();
      const r = await closedLoop(shard, sizes, perJob, burst, through, payload);
      const sum = sums[through];
      const events = perJob * sizes.loopJobs;
      sum.events += events;
      sum.cpuS += r.cpuS;
      sum.wallS += r.wallS;
      if (through === 'sink') {
        calls.count += r.calls.count;
        calls.sections += r.calls.sections;
        calls.events += r.calls.events;
      }
      log(`  closed loop ${through}, ${burst} at a time: ${((r.cpuS / events) * 1e6).toFixed(2)} µs Redis CPU per event, ${Math.round(r.perS)} events/s`);
    }
  }
  const publishUs = (sums.publish.cpuS / sums.publish.events) * 1e6;
  const row = (what: string, sum: { events: number; cpuS: number; wallS: number }): EmitCostRow => {
    const us = (sum.cpuS / sum.events) * 1e6;
    return { client: 'closed loop', what, events: sum.events, redisCpuS: sum.cpuS, usPerEvent: us, cpuSPer100k: us / 10, ratio: us / publishUs, eventsPerCoreS: 1e6 / us, achievedPerS: sum.events / sum.wallS };
  };
  const pace = burst === 1 ? 'one event at a time' : `a task's ${burst} events at a time`;
  return [
    {
      ...row(`through the sink, ${pace}`, sums.sink),
      calls: { count: calls.count, sectionsPerCall: calls.sections / calls.count, eventsPerCall: calls.events / calls.count },
    },
    row(`publish, ${pace}`, sums.publish),
  ];
}

async function shardTable(sizes: EmitCostSizes, log: (line: string) => void): Promise<ShardRow[]> {
  const table: ShardRow[] = [];
  for (const count of sizes.shards) {
    const shards: Shard[] = [];
    try {
      for (let i = 0; i < count; i++) shards.push(await Shard.start(sizes.jobs, 'SPUBLISH'));
      const command = (s: Shard) => emitCommand(s, 1, 'SPUBLISH');
      // Each shard gets a fixed time of load: calls sized from a short probe of the first.
      const probe = await benchmark(shards[0]!, sizes, command(shards[0]!), Math.ceil(sizes.calls / 10));
      const calls = Math.max(1000, Math.round(probe.perS * sizes.shardSeconds));
      const cpu0 = shards.map((s) => s.cpu());
      const t0 = performance.now();
      await Promise.all(shards.map((s) => benchmark(s, sizes, command(s), calls)));
      const wallS = (performance.now() - t0) / 1000;
      const cpuS = shards.reduce((a, s, i) => a + s.cpu() - cpu0[i]!, 0);
      table.push({ shards: count, eventsPerS: (calls * count) / wallS, redisCpuPct: (cpuS / wallS) * 100 });
      log(`  ${count} shard(s): ${Math.round((calls * count) / wallS)} emits/s, Redis CPU ${Math.round((cpuS / wallS) * 100)} %`);
    } finally {
      await Promise.all(shards.map((s) => s.stop()));
    }
  }
  return table;
}

export const S7_FULL: EmitCostSizes = { calls: 100_000, jobs: 3000, connections: 4, pipeline: 16, nodeWindow: 32, loopJobs: 64, loopSinks: 2, rounds: 2, shards: [1, 2, 3], shardSeconds: 4 };
export const S7_SMOKE: EmitCostSizes = { calls: 2000, jobs: 60, connections: 2, pipeline: 4, nodeWindow: 8, loopJobs: 8, loopSinks: 2, rounds: 1, shards: [1, 2], shardSeconds: 0.3 };

/**
 * S7's target: Redis CPU per event of jobs emitting through the worker's sink at most 1.5 × a bare
 * PUBLISH of each event in the same loop. A smoke run checks only that every event arrived.
 */
export function emitCostTargets(f: EmitCostFigures, smoke: boolean): TargetCheck[] {
  // Jobs emit as scraper tasks end (three events a tick); one event at a time is reported beside it.
  const loop = f.rows.find((r) => r.client === 'closed loop' && r.calls && r.what.includes(`${TASK_END_EVENTS} events`));
  const delivered = { scenario: 'S7', target: 'the subscriber got every event published', measured: f.notes.find((n) => n.includes('subscriber got')) ?? 'all', met: !f.notes.some((n) => n.includes('subscriber got')) };
  if (smoke || !loop) return [delivered];
  return [
    delivered,
    {
      scenario: 'S7',
      target: 'jobs emitting through the sink under load ≤ 1.5 × a bare PUBLISH (Redis CPU per event)',
      measured: `${f2(loop.ratio)} × (${f2(loop.usPerEvent)} µs; ${f2(loop.calls!.eventsPerCall)} events a call)`,
      met: loop.ratio <= 1.5,
    },
  ];
}

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');
const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');

/** The S7 section of the report. */
export function renderEmitCost(f: EmitCostFigures): string[] {
  const out = [
    'Redis CPU (user + kernel of the redis-server process) per event: the emit script against a bare PUBLISH of the same event to the same channel, one subscriber on every job channel. ' +
      '"emit ×3" is one script call carrying three events, as the worker sends them when a scraper task ends (scraper_completed, results_updated, job_progress in one tick; jobs with 100 ms scrapers average 3.1 events a call); ' +
      '"emit ×8" carries eight (jobs with 0 ms scrapers average 8.5 a call, whole bursts of a job resolving in one tick); ' +
      '"emit ×1, 8 jobs a call" carries one event for each of eight jobs (eight sections), as the sink sends when many jobs emit one event each in the same tick.',
    '',
    '| client | what | events | Redis CPU s per 100,000 events | µs per event | × bare PUBLISH | events/s one Redis core sustains | events/s reached here |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...f.rows.map(
      (r) => `| ${r.client} | ${r.what} | ${f0(r.events)} | ${f2(r.cpuSPer100k)} | ${f2(r.usPerEvent)} | ${f2(r.ratio)} × | ${f0(r.eventsPerCoreS)} | ${f0(r.achievedPerS)} |`,
    ),
    '',
    `"ioredis": one connection of the workers' client, commands written one by one, ${f.sizes.nodeWindow} in flight (Redis reads few commands per system call, as from many workers); ` +
      `"redis-benchmark": a C client, ${f.sizes.connections} connections × ${f.sizes.pipeline} pipelined (Redis reads many per call: a bare PUBLISH costs little more than its delivery). ` +
      `Calls spread over ${f0(f.sizes.jobs)} jobs, every run from an empty Redis. ` +
      `"closed loop": ${f.sizes.loopJobs} jobs each emitting its next events once the last ones are applied, as a job's progress tracker does, one at a time or a scraper task's end (${TASK_END_EVENTS} events in one tick) at a time, ` +
      `through the worker's event sink (${f.sizes.loopSinks} sinks, one connection each, as on ${f.sizes.loopSinks} workers) or as a bare PUBLISH each; its × is against the PUBLISH of the same loop.`,
  ];
  for (const r of f.rows.filter((x) => x.calls)) {
    out.push('', `${r.what}: ${f0(r.calls!.count)} script calls, ${f2(r.calls!.sectionsPerCall)} jobs and ${f2(r.calls!.eventsPerCall)} events a call on average (a group commit: what is emitted while a call is in flight goes in the next one).`);
  }
  if (f.shardTable.length > 0) {
    out.push(
      '',
      'Emits per second with 1, 2, 3 … shards (one redis-server each, SPUBLISH, one redis-benchmark per shard at once, one event a call), on this machine:',
      '',
      '| shards | emits/s | Redis CPU (100 % = one core) |',
      '|---:|---:|---:|',
      ...f.shardTable.map((r) => `| ${r.shards} | ${f0(r.eventsPerS)} | ${f0(r.redisCpuPct)} % |`),
    );
  }
  out.push(...f.notes.map((n) => `- ${n}`));
  return out;
}
