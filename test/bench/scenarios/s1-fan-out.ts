import { publishPhase, specsFor, warmUp, type BenchContext, type Figures } from '../harness.js';
import type { SystemDef } from '../systems.js';
import { acquireSystem, withSystem, type SystemLease } from './with-system.js';

export const S1_MAX_P99_MS = 1000;
export const S1_MIN_SHARE = 0.97;

/** S1 fan-out, the fixed step: one job, many subscribers, 500 events/s for 10 s (full run), fresh servers. */
export async function runS1Fixed(ctx: BenchContext, def: SystemDef): Promise<Figures[]> {
  const { s1 } = ctx.sizes;
  return withSystem(ctx, def, {}, async (setup) => {
    const subject = await subscribe(ctx, def, { setup, release: async () => undefined });
    const f = await step(ctx, subject, s1.rate, s1.durationMs, `${s1.rate}/s × ${s1.durationMs / 1000} s`);
    return [f];
  });
}

/**
 * S1 sweep: every system up the same ladder of rates, side by side — at each rate the systems
 * take their turn one after the other, so they are compared under the same background load. A
 * system leaves (and is stopped at once, so its backlog burns no CPU under the others) at the
 * first rate it does not sustain: p99 ≥ 1 s or under 97 % delivered.
 */
export async function runS1Sweep(ctx: BenchContext, defs: SystemDef[]): Promise<Figures[]> {
  const { s1 } = ctx.sizes;
  const leases = await Promise.allSettled(defs.map((def) => acquireSystem(ctx, def)));
  const out: Figures[] = [];
  try {
    const subjects: Subject[] = [];
    for (const [i, lease] of leases.entries()) {
      if (lease.status === 'fulfilled') subjects.push(await subscribe(ctx, defs[i]!, lease.value));
      else ctx.log(`  ${defs[i]!.name}: could not start: ${String(lease.reason)}`);
    }
    let active = subjects;
    for (const rate of s1.sweepRates) {
      if (active.length === 0) break;
      const still: Subject[] = [];
      for (const subject of active) {
        const f = await step(ctx, subject, rate, s1.sweepStepMs, `sweep ${rate}/s`);
        out.push(f);
        if (f.sustained) still.push(subject);
        else await subject.lease.release();
      }
      active = still;
    }
  } finally {
    await Promise.all(leases.map((l) => (l.status === 'fulfilled' ? l.value.release() : undefined)));
  }
  return out;
}

/**
 * S1 head-to-head: our gateway and the bare relay in alternating rounds at one rate (the relay's
 * highest sustained), fresh servers, so the figure the target names does not hang on one step of
 * a noisy machine. Rounds are pooled: all deliveries over all server CPU.
 */
export async function runS1HeadToHead(ctx: BenchContext, defs: SystemDef[], rate: number): Promise<Figures[]> {
  const { s1 } = ctx.sizes;
  const leases = await Promise.all(defs.map((def) => acquireSystem(ctx, def)));
  const out: Figures[] = [];
  try {
    const subjects: Subject[] = [];
    for (const [i, lease] of leases.entries()) subjects.push(await subscribe(ctx, defs[i]!, lease));
    for (let round = 1; round <= s1.headToHeadRounds; round++) {
      // Alternate who goes first, so neither always follows the other's backlog.
      const order = round % 2 === 1 ? subjects : [...subjects].reverse();
      for (const subject of order) out.push(await step(ctx, subject, rate, s1.sweepStepMs, `head-to-head ${rate}/s #${round}`));
    }
  } finally {
    await Promise.all(leases.map((l) => l.release()));
  }
  return out;
}

interface Subject {
  def: SystemDef;
  lease: SystemLease;
  jobs: [number, number];
  connections: number;
  notes: string[];
}

/** A fresh job with its subscribers connected and warmed up. */
async function subscribe(ctx: BenchContext, def: SystemDef, lease: SystemLease): Promise<Subject> {
  const { servers, clients, publisher } = lease.setup;
  const jobs = ctx.allocJobs(1);
  await publisher.createJobs(...jobs);
  const specs = specsFor(servers, jobs, ctx.sizes.s1.subscribers);
  const connected = await clients.connect(specs, def.protocol, { resume: def.resumes });
  const notes: string[] = [];
  if (connected.failed > 0) notes.push(`${connected.failed} of ${specs.length} connects failed: ${JSON.stringify(connected.errors)}`);
  if (!(await warmUp(clients, publisher, jobs, connected.opened))) notes.push('not every client had joined before publishing');
  return { def, lease, jobs, connections: connected.opened, notes };
}

async function step(ctx: BenchContext, subject: Subject, rate: number, durationMs: number, name: string): Promise<Figures> {
  const { servers, clients, publisher } = subject.lease.setup;
  const f = await publishPhase(ctx, servers, clients, publisher, {
    scenario: 'S1',
    step: name,
    jobs: subject.jobs,
    connsOfJob: () => subject.connections,
    connections: subject.connections,
    rate,
    durationMs,
    drainMs: ctx.sizes.s1.drainMs,
    maxP99Ms: S1_MAX_P99_MS,
    minShare: S1_MIN_SHARE,
  });
  f.notes.push(...subject.notes);
  ctx.log(`  ${subject.def.name} ${name}: ${summary(f)}`);
  return f;
}

export function summary(f: Figures): string {
  const ms = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(1));
  return (
    `${Math.round(f.deliveredPerS)} msg/s, ${Math.round(f.deliveriesPerCpuS)} per server CPU-s, ` +
    `p50/p99/max ${ms(f.p50Ms)}/${ms(f.p99Ms)}/${ms(f.maxMs)} ms, delivered ${(f.deliveredShare * 100).toFixed(1)} %, ` +
    `lost ${f.lost} late ${f.late} dup ${f.duplicates} reord ${f.reordered}, server ${Math.round(f.serverCpuPct)} % client ${Math.round(f.clientCpuPct)} % redis ${Math.round(f.redisCpuPct)} %`
  );
}
