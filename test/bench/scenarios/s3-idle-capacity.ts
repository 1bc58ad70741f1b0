import { setTimeout as sleep } from 'node:timers/promises';
import { drain, figuresOf, load1, sampleCpu, specsFor, type BenchContext, type Figures } from '../harness.js';
import type { SystemDef } from '../systems.js';
import { withSystem } from './with-system.js';

/** Open files a process keeps for itself (Redis, Postgres, listen socket, runtime). */
const RESERVED = 100;
const OPEN_FILES = 20_000;

/**
 * S3 idle capacity: one server process filled to its descriptor limit, then many connections
 * over several processes (one shared port where the server can share it). Held, measured (RSS per
 * connection, connects per second), then one event per job proves every connection alive.
 */
export async function runS3(ctx: BenchContext, def: SystemDef): Promise<Figures[]> {
  const { s3 } = ctx.sizes;
  const out: Figures[] = [];
  out.push(await fill(ctx, def, 1, null));
  if (s3.multiSystems === 'all' || def.sharesPort) out.push(await fill(ctx, def, s3.multiProcesses, s3.multi));
  return out;
}

async function fill(ctx: BenchContext, def: SystemDef, processes: number, total: number | null): Promise<Figures> {
  const { s3 } = ctx.sizes;
  const loadAvg1 = load1();
  return withSystem(ctx, def, { processes, clientProcesses: s3.clientProcesses, openFiles: OPEN_FILES }, async ({ servers, clients, publisher }) => {
    // The single-process step takes the gateway at its word; peers get the same descriptor budget.
    const count = total ?? (ctx.smoke ? s3.single : (servers.capacity ?? OPEN_FILES - RESERVED));
    const jobCount = Math.ceil(count / s3.perJob);
    const jobs = ctx.allocJobs(jobCount);
    await publisher.createJobs(...jobs);
    const specs = specsFor(servers, jobs, s3.perJob).slice(0, count);
    const perJob = new Map<number, number>();
    for (const s of specs) perJob.set(s.job, (perJob.get(s.job) ?? 0) + 1);

    // Let start-up allocations settle before the baseline.
    if (!ctx.smoke) await sleep(1000);
    const rssBefore = servers.rssKb();
    const before = sampleCpu(ctx, servers, clients, publisher);
    const connectCpu0 = servers.cpuSeconds();
    const connected = await servers.profiled(ctx.serverEnv.profileDir, `S3-${def.name}-${processes}x-connect`, () =>
      clients.connect(specs, def.protocol, { window: 128, timeoutMs: 30_000 }),
    );
    const connectsPerS = connected.opened / (connected.elapsedMs / 1000);
    const serverUsPerConnect = connected.opened > 0 ? ((servers.cpuSeconds() - connectCpu0) * 1e6) / connected.opened : NaN;
    ctx.log(`  ${def.name} ×${processes}: ${connected.opened}/${specs.length} open in ${(connected.elapsedMs / 1000).toFixed(1)} s (${Math.round(connectsPerS)}/s)`);
    await sleep(s3.holdMs);
    const rssHeld = servers.rssKb();

    // One event per job: every connection must get it.
    const bases = await publisher.seqs();
    await clients.reset(bases);
    const run = await publisher.emitOnce(...jobs);
    const expected = specs.length;
    await drain(clients, expected, 15_000, 3000);
    const after = sampleCpu(ctx, servers, clients, publisher);
    const stats = await clients.stats(run.seqs);
    const f = figuresOf(
      ctx,
      servers,
      { scenario: 'S3', step: `${processes} process${processes > 1 ? 'es' : ''}${def.sharesPort || processes === 1 ? '' : ' (own ports)'}`, jobs, connections: connected.opened, rate: 0, maxP99Ms: Infinity, minShare: 1 },
      stats,
      before,
      after,
      { published: run.published, expected, elapsedS: (after.atUs - before.atUs) / 1e6, loadAvg1 },
    );
    f.connectsPerS = connectsPerS;
    f.serverUsPerConnect = serverUsPerConnect;
    f.alive = stats.unique;
    f.serverRssMb = rssHeld / 1024;
    f.rssPerConnKb = connected.opened > 0 ? (rssHeld - rssBefore) / connected.opened : null;
    if (connected.failed > 0) f.notes.push(`${connected.failed} connects failed: ${JSON.stringify(connected.errors)}`);
    if (servers.capacity !== null && processes === 1) f.notes.push(`server says its descriptor limit allows ${servers.capacity} connections`);
    f.sustained = connected.failed === 0 && stats.unique === expected;
    await clients.disconnect();
    return f;
  });
}
