import { s5ScraperLatencyMs } from './scenarios/s5-pipeline.js';
import type { MultiplexSizes } from './scenarios/s6-multiplex.js';

/** How big each scenario is: the full run (sized for 2 shared cores) and the seconds-long smoke run. */
export interface Sizes {
  clientProcesses: number;
  s1: {
    subscribers: number;
    rate: number;
    durationMs: number;
    /** Publish rates tried in order; a system's sweep stops at its first rate it does not sustain. */
    sweepRates: number[];
    sweepStepMs: number;
    /** Alternating gateway/relay rounds at the relay's highest sustained rate. */
    headToHeadRounds: number;
    drainMs: number;
  };
  s2: { jobs: number; perJob: number; rate: number; durationMs: number; drainMs: number };
  s3: {
    /** Connections per job. */
    perJob: number;
    /** Single process: connections at its descriptor capacity, or this many for systems that do not say. */
    single: number;
    multi: number;
    multiProcesses: number;
    clientProcesses: number;
    holdMs: number;
    /** Systems that run the multi-process part (all of them in the full run). */
    multiSystems: 'all' | 'shared-port';
  };
  s4: { clients: number; back: number; rate: number; beforeMs: number; maxMs: number };
  s5: { jobs: number; workers: number; maxMs: number };
  s6: MultiplexSizes;
}

export const FULL: Sizes = {
  clientProcesses: 2,
  s1: {
    subscribers: 2000,
    rate: 500,
    durationMs: 10_000,
    sweepRates: [25, 50, 100, 200, 400, 800, 1600],
    sweepStepMs: 4000,
    headToHeadRounds: 3,
    drainMs: 4000,
  },
  s2: { jobs: 2000, perJob: 5, rate: 2000, durationMs: 15_000, drainMs: 4000 },
  s3: { perJob: 100, single: 19_900, multi: 50_000, multiProcesses: 3, clientProcesses: 4, holdMs: 10_000, multiSystems: 'all' },
  s4: { clients: 1000, back: 100, rate: 20, beforeMs: 2000, maxMs: 20_000 },
  s5: { jobs: 200, workers: 2, maxMs: 90_000 },
  s6: { connections: 5000, jobsPerConnection: 4, jobs: 200, eventsPerJob: 20, rate: 1000, gatewayProcesses: 2, clientProcesses: 3, bytesEvents: 200 },
};

export const SMOKE: Sizes = {
  clientProcesses: 1,
  s1: { subscribers: 20, rate: 50, durationMs: 500, sweepRates: [100], sweepStepMs: 400, headToHeadRounds: 1, drainMs: 2000 },
  s2: { jobs: 20, perJob: 2, rate: 100, durationMs: 500, drainMs: 2000 },
  s3: { perJob: 10, single: 100, multi: 150, multiProcesses: 3, clientProcesses: 1, holdMs: 300, multiSystems: 'shared-port' },
  s4: { clients: 20, back: 10, rate: 50, beforeMs: 300, maxMs: 5000 },
  s5: { jobs: 3, workers: 2, maxMs: 30_000 },
  s6: { connections: 10, jobsPerConnection: 4, jobs: 8, eventsPerJob: 3, rate: 100, gatewayProcesses: 1, clientProcesses: 1, bytesEvents: 20 },
};

const n = (x: number) => x.toLocaleString('en-US');
const seconds = (ms: number) => `${n(ms / 1000)} s`;

/** Each scenario's title with the sizes it runs at, so that a report never shows sizes it did not run. */
export function scenarioTitles(sizes: Sizes, smoke: boolean): Record<'S1' | 'S2' | 'S3' | 'S4' | 'S5' | 'S6', string> {
  const { s1, s2, s3, s4, s5, s6 } = sizes;
  return {
    S1: `fan-out: 1 job × ${n(s1.subscribers)} subscribers, ${n(s1.rate)} events/s for ${seconds(s1.durationMs)}, and a rate sweep`,
    S2: `many jobs: ${n(s2.jobs)} jobs × ${n(s2.perJob)} subscribers, ${n(s2.rate)} events/s for ${seconds(s2.durationMs)}`,
    S3: smoke
      ? `idle capacity: ${n(s3.single)} connections on one process, then ${n(s3.multi)} over ${s3.multiProcesses} processes`
      : `idle capacity: one process at its descriptor limit, then ${n(s3.multi)} connections over ${s3.multiProcesses} processes`,
    S4: `resume storm: ${n(s4.clients)} clients of a job drop at once and resume ${n(s4.back)} events back`,
    S5: `pipeline: ${n(s5.jobs)} jobs over HTTP, ${s5.workers} workers, simulated scrapers at ${s5ScraperLatencyMs()} ms`,
    S6: `protocol v2: ${n(s6.connections)} connections × ${s6.jobsPerConnection} jobs on /ws against ${n(s6.connections * s6.jobsPerConnection)} single-job connections, and bytes per event by encoding`,
  };
}
