import { setTimeout as sleep } from 'node:timers/promises';
import { drain, figuresOf, load1, sampleCpu, specsFor, warmUp, type BenchContext, type Figures } from '../harness.js';
import type { SystemDef } from '../systems.js';
import { withSystem } from './with-system.js';

/**
 * S4 resume storm: the clients of one job drop at once while it keeps emitting and reconnect —
 * our gateway's clients with last_seq 100 events behind what they hold; the peers, which have
 * no resume, plainly. Measured: time until every client got the first event emitted after the
 * drop (all before it in order), and loss/duplicates/reordering from each client's resume point.
 */
export async function runS4(ctx: BenchContext, def: SystemDef): Promise<Figures[]> {
  const { s4 } = ctx.sizes;
  return withSystem(ctx, def, {}, async ({ servers, clients, publisher }) => {
    const jobs = ctx.allocJobs(1);
    await publisher.createJobs(...jobs);
    const specs = specsFor(servers, jobs, s4.clients);
    const connected = await clients.connect(specs, def.protocol, { resume: def.resumes });
    await warmUp(clients, publisher, jobs, connected.opened);
    // History to resume from: the job must be more than `back` events along before the drop.
    await publisher.run(jobs[0], jobs[1], Math.max(s4.rate, 1000), Math.ceil(((s4.back + 10) / Math.max(s4.rate, 1000)) * 1000));
    const loadAvg1 = load1();
    await publisher.startBackground(jobs[0], jobs[1], s4.rate, s4.maxMs + s4.beforeMs + 5000);
    await sleep(s4.beforeMs);

    const before = sampleCpu(ctx, servers, clients, publisher);
    const storm = await clients.storm(jobs[0], s4.back, def.resumes, 256);
    const deadline = Date.now() + s4.maxMs;
    while (Date.now() < deadline) {
      const p = await clients.progress();
      if (p.caughtUp >= connected.opened) break;
      await sleep(100);
    }
    const run = await publisher.stop();
    await drain(clients, Number.POSITIVE_INFINITY, 5000, 500);
    const after = sampleCpu(ctx, servers, clients, publisher);
    const stats = await clients.stats(run.seqs);
    // From what was published: every seq from each client's resume point to the job's last one.
    const expected = stats.expected;
    const f = figuresOf(
      ctx,
      servers,
      { scenario: 'S4', step: `${connected.opened} clients, ${def.resumes ? `last_seq −${s4.back}` : 'no resume'}`, jobs, connections: connected.opened, rate: s4.rate, maxP99Ms: Infinity, minShare: 1 },
      stats,
      before,
      after,
      { published: run.published, expected, elapsedS: (after.atUs - before.atUs) / 1e6, loadAvg1 },
    );
    f.catchUp = {
      clients: stats.catchUp.total,
      p50Ms: stats.catchUp.quantile(0.5) / 1000,
      p99Ms: stats.catchUp.quantile(0.99) / 1000,
      maxMs: stats.catchUp.max / 1000,
      reconnectMs: storm.elapsedMs,
    };
    if (storm.failed > 0) f.notes.push(`${storm.failed} reconnects failed: ${JSON.stringify(storm.errors)}`);
    if (!def.resumes) f.notes.push('no resume protocol: events emitted while a client was away are lost to it');
    f.sustained = f.catchUp.clients === connected.opened && stats.lost === 0 && stats.duplicates === 0 && stats.reordered === 0;
    ctx.log(
      `  ${def.name}: ${f.catchUp.clients}/${connected.opened} caught up, max ${f.catchUp.maxMs.toFixed(0)} ms (reconnects took ${storm.elapsedMs.toFixed(0)} ms); lost ${stats.lost} dup ${stats.duplicates} reord ${stats.reordered}`,
    );
    return [f];
  });
}
