/**
 * `npm run bench`: our gateway against the seed design, Socket.IO and a bare uWS relay, in one
 * run, with one load client and one publisher for all. Writes test/bench/results/<timestamp>.md
 * and .json and prints the markdown.
 *
 * Options: USAGE below (`npm run bench -- --help`).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { detectUwsRuntime } from '../../gateway/uws.js';
import { PrivateRedis } from '../helpers/private-redis.js';
import { deleteKeysWithPrefix } from '../helpers/redis-keys.js';
import type { BenchContext, Figures } from './harness.js';
import { buildServices } from './lib/build-services.js';
import { loadAverage, machineInfo } from './lib/proc.js';
import { summarizeProfile, type ProfileSummary } from './profile-summary.js';
import { checkTargets, computeRatios, maxSustainedRate, renderMarkdown, type BenchReport, type ScenarioReport } from './report.js';
import { runS1Fixed, runS1HeadToHead, runS1Sweep } from './scenarios/s1-fan-out.js';
import { runS2 } from './scenarios/s2-many-jobs.js';
import { runS3 } from './scenarios/s3-idle-capacity.js';
import { runS4 } from './scenarios/s4-resume-storm.js';
import { pipelineAvailable, runS5, type PipelineFigures } from './scenarios/s5-pipeline.js';
import { multiplexTargets, runS6, type MultiplexFigures } from './scenarios/s6-multiplex.js';
import { emitCostTargets, measureEmitCost, S7_FULL, S7_SMOKE, type EmitCostFigures } from './scenarios/s7-emit-cost.js';
import { measureFinishedBytes, type FinishedBytesFigures } from './scenarios/s8-finished-bytes.js';
import { SetupCache } from './scenarios/with-system.js';
import { FULL, SMOKE, scenarioTitles } from './sizes.js';
import { ROOT, SYSTEM_NAMES, SYSTEMS, type SystemName } from './systems.js';
import { benchAuthEnv } from './lib/watch-token.js';

/** The V8 flags Dockerfile.gateway starts the gateway with: the bench measures it as deployed. */
const DEPLOYED_GATEWAY_NODE_OPTIONS = '--max-semi-space-size=2';

const SCENARIOS = {
  S1: 'fan-out: 1 job × 2,000 subscribers, 500 events/s for 10 s, and a rate sweep',
  S2: 'many jobs: 2,000 jobs × 5 subscribers, 2,000 events/s for 15 s',
  S3: 'idle capacity: one process at its descriptor limit, then 50,000 connections over three processes',
  S4: 'resume storm: 1,000 clients of a job drop at once and resume 100 events back',
  S5: 'pipeline: jobs over HTTP, two workers, simulated scrapers (at 0 ms unless SCRAPER_LATENCY_MS is set)',
  S6: 'protocol v2: multiplexed /ws connections against single-job ones, and bytes per event by encoding',
  S7: 'emit cost: Redis CPU per emit against a bare PUBLISH, and emits/s with 1, 2, 3 shards',
  S8: 'retention: Redis bytes per finished job, and what finished jobs hold at one job a second',
} as const;
type ScenarioId = keyof typeof SCENARIOS;

export interface RunOptions {
  smoke: boolean;
  scenarios: ScenarioId[];
  systems: SystemName[];
  profile: boolean;
  outDir: string;
  redisUrl: string | null;
  databaseUrl: string;
  budgetMin: number;
  /** Run the servers from their TypeScript sources under tsx instead of compiled. */
  tsx: boolean;
  /** NODE_OPTIONS for the gateway processes (experiments). */
  gatewayNodeOptions: string | null;
  /** The gateway runs with access control on (the default, as deployed): clients present watch tokens. */
  auth: boolean;
  /** Progress lines (stderr by default). */
  log?: (line: string) => void;
}

function parseAuth(value: string | undefined): boolean {
  if (value === undefined || value === 'on') return true;
  if (value === 'off') return false;
  throw new Error(`--auth takes on or off, got "${value}"`);
}

export function parseOptions(argv: string[]): RunOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      smoke: { type: 'boolean', default: false },
      scenario: { type: 'string' },
      systems: { type: 'string' },
      profile: { type: 'boolean', default: false },
      out: { type: 'string' },
      'redis-url': { type: 'string' },
      'database-url': { type: 'string' },
      'budget-min': { type: 'string' },
      tsx: { type: 'boolean', default: false },
      'gateway-node-options': { type: 'string' },
      auth: { type: 'string' },
    },
  });
  const list = <T extends string>(raw: string | undefined, all: readonly T[], what: string): T[] => {
    if (!raw) return [...all];
    const picked = raw.split(',').map((s) => s.trim()).filter(Boolean);
    for (const p of picked) if (!all.includes(p as T)) throw new Error(`unknown ${what} "${p}": one of ${all.join(', ')}`);
    return picked as T[];
  };
  const smoke = values.smoke ?? false;
  return {
    smoke,
    scenarios: list(values.scenario?.toUpperCase(), Object.keys(SCENARIOS) as ScenarioId[], 'scenario'),
    systems: list(values.systems, SYSTEM_NAMES, 'system'),
    profile: values.profile ?? false,
    outDir: values.out ?? join(ROOT, 'test/bench/results', smoke ? 'smoke' : ''),
    redisUrl: values['redis-url'] ?? null,
    databaseUrl: values['database-url'] ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    budgetMin: Number(values['budget-min'] ?? (smoke ? 2 : 14)),
    tsx: values.tsx ?? false,
    gatewayNodeOptions: values['gateway-node-options'] ?? DEPLOYED_GATEWAY_NODE_OPTIONS,
    auth: parseAuth(values.auth),
  };
}

export interface RunOutput {
  report: BenchReport;
  markdown: string;
  files: { md: string; json: string };
}

export async function runBench(options: RunOptions): Promise<RunOutput> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`));
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
  const sizes = options.smoke ? SMOKE : FULL;
  const keyPrefix = `bench_${stamp.replace(/-/g, '')}_${process.pid}:`;
  const dbName = `scout_bench_${stamp.replace(/-/g, '').toLowerCase()}_${process.pid}`;
  const deadline = Date.now() + options.budgetMin * 60_000;

  const privateRedis = options.redisUrl ? null : await PrivateRedis.start();
  const redisUrl = options.redisUrl ?? privateRedis!.url;
  const admin = new Redis(redisUrl);
  const info = await admin.info('server');
  const redisPid = Number(/process_id:(\d+)/.exec(info)?.[1]) || null;
  const redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';

  const pgAdmin = new pg.Client({ connectionString: options.databaseUrl });
  await pgAdmin.connect();
  const pgVersion = (await pgAdmin.query<{ server_version: string }>('show server_version')).rows[0]?.server_version ?? '?';
  await pgAdmin.query(`create database ${dbName}`);
  const dbUrl = new URL(options.databaseUrl);
  dbUrl.pathname = `/${dbName}`;

  // The servers run compiled, as in production; the build is this run's own (runs may overlap).
  const buildDir = join(ROOT, 'test/bench/.build', `${stamp}-${process.pid}`);
  if (!options.tsx) {
    const built = buildServices(ROOT, buildDir);
    log(`compiled ${built.files} source files for the servers in ${built.ms} ms`);
  }

  const profileRoot = options.profile ? join(options.outDir, `profiles-${stamp}`) : null;
  let nextJob = 1;
  const ctx: BenchContext = {
    sizes,
    smoke: options.smoke,
    systems: options.systems.map((s) => SYSTEMS[s]),
    serverEnv: { redisUrl, databaseUrl: dbUrl.toString(), keyPrefix, profileDir: null, buildDir: options.tsx ? null : buildDir, gatewayNodeOptions: options.gatewayNodeOptions ?? undefined, extraEnv: benchAuthEnv(options.auth ?? true) },
    redisUrl,
    redisPid,
    allocJobs(count) {
      const first = nextJob;
      nextJob += count;
      return [first, first + count - 1];
    },
    log,
    setupCache: options.smoke ? new SetupCache() : null,
  };

  const scenarios: ScenarioReport[] = [];
  let pipeline: PipelineFigures | null = null;
  let multiplex: MultiplexFigures | null = null;
  let emitCost: EmitCostFigures | null = null;
  let finishedBytes: FinishedBytesFigures | null = null;
  const uws = detectUwsRuntime();
  try {
    log(`bench ${options.smoke ? 'smoke' : 'full'} run: scenarios ${options.scenarios.join(',')}, systems ${options.systems.join(',')}; redis ${redisUrl} (pid ${redisPid}), database ${dbName}`);
    for (const id of options.scenarios) {
      const report: ScenarioReport = { id, title: { ...scenarioTitles(sizes, options.smoke), S7: SCENARIOS.S7, S8: SCENARIOS.S8 }[id], loadAvgAtStart: loadAverage(), durationS: 0, figures: [], skipped: null, errors: [] };
      scenarios.push(report);
      const t0 = Date.now();
      if (Date.now() > deadline) {
        report.skipped = `time budget of ${options.budgetMin} min used up`;
        continue;
      }
      if (profileRoot) {
        ctx.serverEnv.profileDir = join(profileRoot, id);
        mkdirSync(ctx.serverEnv.profileDir, { recursive: true });
      }
      log(`${id}: ${report.title} (load ${report.loadAvgAtStart.map((x) => x.toFixed(2)).join(' ')})`);
      if (id === 'S8') {
        try {
          finishedBytes = await measureFinishedBytes(options.smoke ? 5 : 100, log);
        } catch (error) {
          report.errors.push(`finished bytes: ${errorText(error)}`);
        }
      } else if (id === 'S7') {
        try {
          emitCost = await measureEmitCost(options.smoke ? S7_SMOKE : S7_FULL, log);
        } catch (error) {
          report.errors.push(`emit cost: ${errorText(error)}`);
        }
      } else if (id === 'S6') {
        if (!options.systems.includes('gateway')) report.skipped = 'needs the gateway among the systems';
        else {
          try {
            multiplex = await runS6(ctx, sizes.s6);
          } catch (error) {
            report.errors.push(`multiplex: ${errorText(error)}`);
            log(`  S6 failed: ${errorText(error)}`);
          }
        }
      } else if (id === 'S5') {
        if (!options.systems.includes('gateway')) report.skipped = 'needs the gateway among the systems';
        else if (!pipelineAvailable()) report.skipped = 'not available: worker/main.ts is not there yet';
        else {
          try {
            pipeline = await runS5(ctx);
            log(`  ${pipeline.jobsPerS.toFixed(1)} jobs/s, ${Math.round(pipeline.eventsPerS)} events/s`);
          } catch (error) {
            report.errors.push(`pipeline: ${errorText(error)}`);
            log(`  pipeline failed: ${errorText(error)}`);
          }
        }
      } else {
        const run = { S1: runS1Fixed, S2: runS2, S3: runS3, S4: runS4 }[id];
        for (const def of ctx.systems) {
          log(` ${id} ${def.name}`);
          try {
            report.figures.push(...(await run(ctx, def)));
          } catch (error) {
            report.errors.push(`${def.name}: ${errorText(error)}`);
            log(`  ${def.name} failed: ${errorText(error)}`);
          }
        }
        if (id === 'S1') {
          log(` S1 sweep, systems side by side`);
          try {
            report.figures.push(...(await runS1Sweep(ctx, ctx.systems)));
          } catch (error) {
            report.errors.push(`sweep: ${errorText(error)}`);
            log(`  sweep failed: ${errorText(error)}`);
          }
          const relayMax = maxSustainedRate(report.figures, 'relay');
          if (relayMax !== null && options.systems.includes('gateway')) {
            log(` S1 head-to-head at ${relayMax}/s: gateway and relay, alternating`);
            try {
              report.figures.push(...(await runS1HeadToHead(ctx, [SYSTEMS.gateway, SYSTEMS.relay], relayMax)));
            } catch (error) {
              report.errors.push(`head-to-head: ${errorText(error)}`);
              log(`  head-to-head failed: ${errorText(error)}`);
            }
          }
        }
      }
      report.durationS = (Date.now() - t0) / 1000;
    }
  } finally {
    await ctx.setupCache?.closeAll();
    await deleteKeysWithPrefix(admin, keyPrefix).catch((error: unknown) => log(`key cleanup failed: ${errorText(error)}`));
    admin.disconnect();
    await privateRedis?.stop();
    await pgAdmin.query(`drop database if exists ${dbName} with (force)`).catch((error: unknown) => log(`drop database failed: ${errorText(error)}`));
    await pgAdmin.end();
    rmSync(buildDir, { recursive: true, force: true });
  }

  const profiles: ProfileSummary[] = [];
  if (profileRoot) {
    for (const id of options.scenarios) {
      const dir = join(profileRoot, id);
      let processes: string[] = [];
      try {
        processes = readdirSync(dir).sort();
      } catch {
        continue;
      }
      for (const entry of processes) {
        // Servers: one profile per measured phase. Workers (node --cpu-prof): a directory per
        // process, CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile, thread 0 the main one.
        const file = entry.endsWith('.cpuprofile')
          ? entry
          : (() => {
              const main = readdirSync(join(dir, entry)).find((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f));
              return main ? join(entry, main) : null;
            })();
        if (!file) continue;
        const summary = summarizeProfile(join(dir, file), 15);
        summary.file = `${id}/${entry}`;
        profiles.push(summary);
      }
    }
  }

  const report: BenchReport = {
    mode: options.smoke ? 'smoke' : 'full',
    sizes,
    startedAt: startedAt.toISOString(),
    durationS: (Date.now() - startedAt.getTime()) / 1000,
    machine: { ...machineInfo(), uwsNative: uws.native, uwsBinary: uws.binary, redis: `Redis ${redisVersion}${privateRedis ? ' (private redis-server)' : ''}`, postgres: `Postgres ${pgVersion}`,
      sources: sourceRevision(),
      serversRunAs:
        (options.tsx ? 'TypeScript sources under tsx' : 'plain node on JavaScript compiled from the current sources (as `node dist/gateway/main.js` in production)') +
        (options.gatewayNodeOptions ? `; gateway with NODE_OPTIONS="${options.gatewayNodeOptions}"` : ''),
    },
    systems: options.systems,
    scenarios,
    pipeline,
    multiplex,
    emitCost,
    finishedBytes,
    ratios: computeRatios(scenarios),
    targets: [
      ...checkTargets(scenarios, pipeline, options.smoke),
      ...(multiplex ? multiplexTargets(multiplex, options.smoke) : []),
      ...(emitCost ? emitCostTargets(emitCost, options.smoke) : []),
    ],
    profiles,
  };
  const markdown = renderMarkdown(report);
  mkdirSync(options.outDir, { recursive: true });
  const files = { md: join(options.outDir, `${stamp}.md`), json: join(options.outDir, `${stamp}.json`) };
  writeFileSync(files.md, markdown + '\n');
  writeFileSync(files.json, JSON.stringify(report, null, 1) + '\n');
  log(`report: ${files.md}`);
  return { report, markdown, files };
}

/** Problems that make a smoke run fail: a system without figures in a scenario, or any loss. */
export function smokeProblems(report: BenchReport): string[] {
  const problems: string[] = [];
  for (const s of report.scenarios) {
    // Nothing may be skipped in a smoke run: a scenario that does not run proves nothing.
    if (s.skipped) problems.push(`${s.id} skipped: ${s.skipped}`);
    problems.push(...s.errors.map((e) => `${s.id}: ${e}`));
    if (s.id === 'S5') {
      const p = report.pipeline;
      if (!s.skipped && (!p || p.jobs <= 0 || p.completed !== p.jobs)) problems.push(`S5: ${p ? `${p.completed} of ${p.jobs} jobs completed` : 'no pipeline figure'}`);
      continue;
    }
    if (s.id === 'S8') {
      if (!s.skipped && !report.finishedBytes) problems.push('S8: no finished-bytes figures');
      continue;
    }
    if (s.id === 'S6') {
      // Its delivery check is among the targets.
      if (!s.skipped && !report.multiplex) problems.push('S6: no multiplex figures');
      continue;
    }
    if (s.id === 'S7') {
      // Every event published must have reached the subscriber, or the figures are off.
      if (!s.skipped && !report.emitCost) problems.push('S7: no emit-cost figures');
      continue;
    }
    for (const system of report.systems) {
      const mine = s.figures.filter((f: Figures) => f.system === system);
      if (mine.length === 0) problems.push(`${s.id}: no figures for ${system}`);
      for (const f of mine) {
        const where = `${s.id} ${system} ${f.step}`;
        // Peers have no resume: in the storm they lose what was emitted while they were away.
        if (s.id === 'S4' && !SYSTEMS[system].resumes) continue;
        if (f.expected <= 0) problems.push(`${where}: nothing was expected (no event published)`);
        if (f.lost > 0 || f.duplicates > 0 || f.reordered > 0) problems.push(`${where}: lost ${f.lost} dup ${f.duplicates} reord ${f.reordered}`);
        // An event still missing when the phase ended is not "late" in a smoke run: it is missing.
        if (f.late > 0) problems.push(`${where}: ${f.late} events never arrived on open connections`);
        if (f.delivered !== f.expected) problems.push(`${where}: delivered ${f.delivered} of ${f.expected} expected`);
        if (s.id === 'S3' && (f.alive !== f.expected || f.connections !== f.expected)) {
          problems.push(`${where}: ${f.alive ?? 0} of ${f.expected} connections alive (${f.connections} opened)`);
        }
      }
    }
  }
  return problems;
}

/** The commit measured, and whether the service sources differ from it. */
function sourceRevision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'gateway', 'shared', 'worker'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return `commit ${head}${dirty ? ' with uncommitted changes in gateway/, shared/ or worker/' : ''}`;
  } catch {
    return 'unknown (no git)';
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message).split('\n').slice(0, 4).join(' | ') : String(error);
}

const USAGE = `usage: npm run bench -- [options]
  --smoke                   seconds-long tiny run (CI); results under test/bench/results/smoke/
  --scenario S1,S2,...      scenarios to run (default all: S1-S5, S7, S8)
  --systems gateway,...     systems (default gateway,relay,seed,socketio)
  --profile                 CPU profiles of the servers and workers, summarized in the report
  --out DIR                 where to write the report (default test/bench/results/)
  --redis-url URL           use this Redis instead of a private redis-server
  --database-url URL        Postgres to create the bench database in (default $DATABASE_URL or local)
  --budget-min N            start no scenario after N minutes (default 14; smoke 2)
  --tsx                     run the servers from source under tsx (default: compiled, as in production)
  --gateway-node-options S  NODE_OPTIONS for the gateway processes (default: Dockerfile.gateway's)
  --auth on|off             the gateway's access control (default on, as deployed; clients send watch tokens)`;

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  let options: RunOptions;
  try {
    options = parseOptions(args);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    process.exit(2);
  }
  const { report, markdown } = await runBench(options);
  process.stdout.write(markdown + '\n');
  if (options.smoke) {
    const problems = smokeProblems(report);
    for (const p of problems) process.stderr.write(`smoke: ${p}\n`);
    process.exit(problems.length > 0 ? 1 : 0);
  }
  process.exit(0);
}
