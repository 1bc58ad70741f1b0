import { publishPhase, specsFor, warmUp, type BenchContext, type Figures } from '../harness.js';
import type { SystemDef } from '../systems.js';
import { summary } from './s1-fan-out.js';
import { withSystem } from './with-system.js';

/** S2 many jobs: 2,000 jobs × 5 subscribers, 2,000 events/s in total, round-robin over the jobs. */
export async function runS2(ctx: BenchContext, def: SystemDef): Promise<Figures[]> {
  const { s2 } = ctx.sizes;
  return withSystem(ctx, def, {}, async ({ servers, clients, publisher }) => {
    const jobs = ctx.allocJobs(s2.jobs);
    await publisher.createJobs(...jobs);
    const specs = specsFor(servers, jobs, s2.perJob);
    const connected = await clients.connect(specs, def.protocol, { resume: def.resumes });
    const warm = await warmUp(clients, publisher, jobs, connected.opened);
    const f = await publishPhase(ctx, servers, clients, publisher, {
      scenario: 'S2',
      step: `${s2.rate}/s × ${s2.durationMs / 1000} s`,
      jobs,
      connsOfJob: () => s2.perJob,
      connections: connected.opened,
      rate: s2.rate,
      durationMs: s2.durationMs,
      drainMs: s2.drainMs,
      // Sustained: everything delivered with p99 under a second (the 10 ms target is checked apart).
      maxP99Ms: 1000,
      minShare: 1,
    });
    if (connected.failed > 0) f.notes.push(`${connected.failed} of ${specs.length} connects failed: ${JSON.stringify(connected.errors)}`);
    if (!warm) f.notes.push('not every client had joined before publishing');
    ctx.log(`  ${def.name}: ${summary(f)}`);
    return [f];
  });
}
