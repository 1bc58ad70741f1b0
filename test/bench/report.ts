import type { Figures } from './harness.js';
import type { MachineInfo } from './lib/proc.js';
import { renderProfile, type ProfileSummary } from './profile-summary.js';
import type { PipelineFigures } from './scenarios/s5-pipeline.js';
import { renderMultiplex, type MultiplexFigures } from './scenarios/s6-multiplex.js';
import { renderEmitCost, type EmitCostFigures } from './scenarios/s7-emit-cost.js';
import { renderFinishedBytes, type FinishedBytesFigures } from './scenarios/s8-finished-bytes.js';
import type { Sizes } from './sizes.js';
import { SYSTEMS, type SystemName } from './systems.js';

export interface ScenarioReport {
  id: 'S1' | 'S2' | 'S3' | 'S4' | 'S5' | 'S6' | 'S7' | 'S8';
  title: string;
  /** 1-, 5- and 15-minute load averages when the scenario started (other work on the machine shows here). */
  loadAvgAtStart: [number, number, number];
  durationS: number;
  figures: Figures[];
  skipped: string | null;
  errors: string[];
}

export interface BenchReport {
  mode: 'full' | 'smoke';
  /** The sizes the scenarios ran at. */
  sizes: Sizes;
  startedAt: string;
  durationS: number;
  machine: MachineInfo & { uwsNative: boolean; uwsBinary: string | null; redis: string; postgres: string; serversRunAs: string; sources: string };
  systems: SystemName[];
  scenarios: ScenarioReport[];
  pipeline: PipelineFigures | null;
  multiplex?: MultiplexFigures | null;
  /** S7: Redis CPU per emit against a bare PUBLISH, and emits/s per shard count. */
  emitCost?: EmitCostFigures | null;
  /** S8: Redis bytes per finished job and how long they are kept. */
  finishedBytes?: FinishedBytesFigures | null;
  ratios: Ratio[];
  targets: TargetCheck[];
  profiles: ProfileSummary[];
}

export interface Ratio {
  scenario: string;
  what: string;
  peer: SystemName;
  ours: number;
  theirs: number;
  ratio: number;
}

export interface TargetCheck {
  scenario: string;
  target: string;
  measured: string;
  met: boolean | null;
}

const n0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');
const n1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const n2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');
const ms = (x: number) => (!Number.isFinite(x) ? '-' : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));

/** The highest sweep rate a system sustained in S1 (p99 < 1 s, ≥ 97 % delivered), or null. */
export function maxSustainedRate(figures: Figures[], system: SystemName): number | null {
  const sweep = figures.filter((f) => f.scenario === 'S1' && f.system === system && f.step.startsWith('sweep'));
  let best: number | null = null;
  for (const f of sweep) if (f.sustained && (best === null || f.rate > best)) best = f.rate;
  return best;
}

/** Head-to-head rounds pooled per system: all deliveries over all server CPU-seconds. */
export function headToHead(figures: Figures[]): { rate: number; gateway: Figures[]; relay: Figures[]; ratio: number; ours: number; theirs: number } | null {
  const rounds = figures.filter((f) => f.scenario === 'S1' && f.step.startsWith('head-to-head'));
  if (rounds.length === 0) return null;
  const pooled = (fs: Figures[]) => fs.reduce((a, f) => a + f.delivered, 0) / Math.max(1e-9, fs.reduce((a, f) => a + f.serverCpuS, 0));
  const gateway = rounds.filter((f) => f.system === 'gateway');
  const relay = rounds.filter((f) => f.system === 'relay');
  if (gateway.length === 0 || relay.length === 0) return null;
  const ours = pooled(gateway);
  const theirs = pooled(relay);
  return { rate: rounds[0]!.rate, gateway, relay, ours, theirs, ratio: ours / theirs };
}

export function computeRatios(scenarios: ScenarioReport[]): Ratio[] {
  const out: Ratio[] = [];
  const figures = scenarios.flatMap((s) => s.figures);
  const compare = (scenario: string, what: string, pick: (f: Figures) => boolean, value: (f: Figures) => number) => {
    const ours = figures.find((f) => f.system === 'gateway' && pick(f));
    if (!ours) return;
    for (const peer of ['relay', 'seed', 'socketio'] as const) {
      const theirs = figures.find((f) => f.system === peer && pick(f));
      if (!theirs) continue;
      out.push({ scenario, what, peer, ours: value(ours), theirs: value(theirs), ratio: value(theirs) > 0 ? value(ours) / value(theirs) : NaN });
    }
  };
  const s1Main = (f: Figures) => f.scenario === 'S1' && !f.step.startsWith('sweep');
  compare('S1', 'deliveries per server CPU-second, fixed step', s1Main, (f) => f.deliveriesPerCpuS);
  compare('S1', 'delivered messages/s, fixed step', s1Main, (f) => f.deliveredPerS);
  const relayMax = maxSustainedRate(figures, 'relay');
  if (relayMax !== null) {
    compare('S1', `deliveries per server CPU-second at ${relayMax}/s (relay's highest sustained rate)`, (f) => f.scenario === 'S1' && f.step === `sweep ${relayMax}/s`, (f) => f.deliveriesPerCpuS);
  }
  const h2h = headToHead(figures);
  if (h2h) {
    out.push({ scenario: 'S1', what: `deliveries per server CPU-second at ${h2h.rate}/s, ${h2h.gateway.length} alternating rounds pooled`, peer: 'relay', ours: h2h.ours, theirs: h2h.theirs, ratio: h2h.ratio });
  }
  const ourMax = maxSustainedRate(figures, 'gateway');
  if (ourMax !== null) {
    for (const peer of ['relay', 'seed', 'socketio'] as const) {
      const theirs = maxSustainedRate(figures, peer);
      if (theirs !== null) out.push({ scenario: 'S1', what: 'highest sustained publish rate (events/s)', peer, ours: ourMax, theirs, ratio: ourMax / theirs });
    }
  }
  compare('S2', 'deliveries per server CPU-second', (f) => f.scenario === 'S2', (f) => f.deliveriesPerCpuS);
  compare('S2', 'p99 latency (ms, lower is better)', (f) => f.scenario === 'S2', (f) => f.p99Ms);
  compare('S3', 'RSS per connection, one process (KB, lower is better)', (f) => f.scenario === 'S3' && f.step.startsWith('1 '), (f) => f.rssPerConnKb ?? NaN);
  return out;
}

/**
 * The targets the gateway is held to, each named by what it measures. A smoke run is too small and
 * too short for performance figures: it checks delivery only (nothing lost, every connection alive,
 * every client caught up, every job completed).
 */
export function checkTargets(scenarios: ScenarioReport[], pipeline: PipelineFigures | null, smoke = false): TargetCheck[] {
  const figures = scenarios.flatMap((s) => s.figures);
  const ours = (pick: (f: Figures) => boolean) => figures.find((f) => f.system === 'gateway' && pick(f));
  const peer = (system: SystemName, pick: (f: Figures) => boolean) => figures.find((f) => f.system === system && pick(f));
  const out: TargetCheck[] = [];

  const relayMax = maxSustainedRate(figures, 'relay');
  const h2h = headToHead(figures);
  if (smoke) {
    for (const f of figures.filter((x) => x.system === 'gateway' && (x.scenario === 'S1' || x.scenario === 'S2'))) {
      out.push({ scenario: f.scenario, target: `${f.step}: every event delivered once, in order`, measured: `${n0(f.delivered)} of ${n0(f.expected)}; lost/dup/reord ${f.lost}/${f.duplicates}/${f.reordered}`, met: f.delivered === f.expected && f.lost + f.duplicates + f.reordered + f.late === 0 });
    }
  } else if (h2h) {
    out.push({ scenario: 'S1', target: `≥ 0.9 × relay deliveries/CPU-s at ${h2h.rate}/s (head-to-head, pooled)`, measured: `${n2(h2h.ratio)} ×`, met: h2h.ratio >= 0.9 });
    const lost = h2h.gateway.reduce((a, f) => a + f.lost, 0);
    const dup = h2h.gateway.reduce((a, f) => a + f.duplicates, 0);
    const reord = h2h.gateway.reduce((a, f) => a + f.reordered, 0);
    const late = h2h.gateway.reduce((a, f) => a + f.late, 0);
    out.push({ scenario: 'S1', target: `zero loss/dup/reorder at ${h2h.rate}/s (head-to-head)`, measured: `${lost}/${dup}/${reord}${late ? `, ${late} late at cut-off` : ''}`, met: lost + dup + reord + late === 0 });
  } else if (relayMax !== null) {
    const at = (f: Figures) => f.scenario === 'S1' && f.step === `sweep ${relayMax}/s`;
    const g = ours(at);
    const r = peer('relay', at);
    if (g && r) {
      const ratio = g.deliveriesPerCpuS / r.deliveriesPerCpuS;
      out.push({ scenario: 'S1', target: `≥ 0.9 × relay deliveries/CPU-s at ${relayMax}/s`, measured: `${n2(ratio)} ×`, met: ratio >= 0.9 });
      const clean = g.lost === 0 && g.duplicates === 0 && g.reordered === 0;
      out.push({ scenario: 'S1', target: `zero loss/dup/reorder at ${relayMax}/s`, measured: `${g.lost}/${g.duplicates}/${g.reordered}`, met: clean });
    } else {
      out.push({ scenario: 'S1', target: `gateway measured at ${relayMax}/s`, measured: g ? 'relay missing' : 'gateway stopped below that rate', met: false });
    }
  }
  const s1Over = figures.filter((f) => f.system === 'gateway' && f.scenario === 'S1' && (f.closes['4001'] ?? 0) > 0);
  if (s1Over.length > 0 && !smoke) {
    const lossFree = s1Over.every((f) => f.duplicates === 0 && f.reordered === 0);
    out.push({
      scenario: 'S1',
      target: 'above it, slow clients disconnected and resume (no dup/reorder)',
      measured: s1Over.map((f) => `${f.step}: ${f.closes['4001']} closes, ${f.resumes} resumes, lost ${f.lost}`).join('; '),
      met: lossFree,
    });
  }

  const s2 = (f: Figures) => f.scenario === 'S2';
  const g2 = ours(s2);
  if (g2 && !smoke) {
    for (const [system, want] of [['relay', 1], ['seed', 2], ['socketio', 2]] as const) {
      const p = peer(system, s2);
      if (!p) continue;
      const ratio = g2.deliveriesPerCpuS / p.deliveriesPerCpuS;
      out.push({ scenario: 'S2', target: `≥ ${want} × ${system} deliveries/CPU-s`, measured: `${n2(ratio)} ×`, met: ratio >= want });
    }
    out.push({ scenario: 'S2', target: 'p99 < 10 ms', measured: `${ms(g2.p99Ms)} ms`, met: g2.p99Ms < 10 });
  }

  const s3 = figures.filter((f) => f.system === 'gateway' && f.scenario === 'S3');
  for (const f of s3) {
    out.push({ scenario: 'S3', target: `${f.step}: all connections open and alive`, measured: `${n0(f.alive ?? 0)} alive of ${n0(f.connections)} open`, met: f.alive === f.connections && f.notes.every((n) => !n.includes('failed')) });
    if (smoke) continue;
    out.push({ scenario: 'S3', target: `${f.step}: ≤ 1 KB RSS per connection`, measured: `${n2(f.rssPerConnKb ?? NaN)} KB`, met: (f.rssPerConnKb ?? Infinity) <= 1 });
    out.push({ scenario: 'S3', target: `${f.step}: ≥ 10,000 connects/s`, measured: `${n0(f.connectsPerS ?? NaN)}/s`, met: (f.connectsPerS ?? 0) >= 10_000 });
  }

  const g4 = ours((f) => f.scenario === 'S4');
  if (g4?.catchUp) {
    out.push({
      scenario: 'S4',
      target: 'every client caught up, zero loss/dup/reorder',
      measured: `${g4.catchUp.clients}/${g4.connections} caught up in ${ms(g4.catchUp.maxMs)} ms; ${g4.lost}/${g4.duplicates}/${g4.reordered}`,
      met: g4.sustained,
    });
  }
  if (pipeline) {
    out.push(
      smoke
        ? { scenario: 'S5', target: 'every job enqueued over HTTP completed', measured: `${pipeline.completed} of ${pipeline.jobs}`, met: pipeline.jobs > 0 && pipeline.completed === pipeline.jobs }
        : { scenario: 'S5', target: 'jobs/s and events/s reported', measured: `${n1(pipeline.jobsPerS)} jobs/s, ${n0(pipeline.eventsPerS)} events/s`, met: pipeline.completed > 0 },
    );
  }
  return out;
}

function closesText(closes: Record<string, number>): string {
  const entries = Object.entries(closes);
  return entries.length === 0 ? '' : entries.map(([code, count]) => `${count}×${code}`).join(' ');
}

function deliveryTable(figures: Figures[], smoke: boolean): string[] {
  if (smoke) {
    const rows = ['| system | step | conns | delivered | expected | lost / dup / reord | missing at the end | notes |', '|---|---|---:|---:|---:|---|---:|---|'];
    for (const f of figures) {
      rows.push(`| ${f.system} | ${f.step} | ${n0(f.connections)} | ${n0(f.delivered)} | ${n0(f.expected)} | ${f.lost} / ${f.duplicates} / ${f.reordered} | ${n0(f.late)} | ${f.notes.join('; ')} |`);
    }
    return rows;
  }
  const rows = [
    '| system | step | conns | delivered msg/s | deliveries / server CPU-s | server CPU % (kernel share) | p50 ms | p90 ms | p99 ms | max ms | delivered % | lost / dup / reord | late at cut-off | server RSS MB | client CPU % | Redis CPU % | sustained | notes |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---|',
  ];
  for (const f of figures) {
    const notes = [...f.notes, closesText(f.closes) ? `server closes ${closesText(f.closes)}` : '', f.resumes ? `${f.resumes} resumes` : '']
      .filter(Boolean)
      .join('; ');
    rows.push(
      `| ${f.system} | ${f.step} | ${n0(f.connections)} | ${n0(f.deliveredPerS)} | ${n0(f.deliveriesPerCpuS)} | ${n0(f.serverCpuPct)} (${n0(f.serverSysShare * 100)} %) | ${ms(f.p50Ms)} | ${ms(f.p90Ms)} | ${ms(f.p99Ms)} | ${ms(f.maxMs)} | ${n1(f.deliveredShare * 100)} | ${f.lost} / ${f.duplicates} / ${f.reordered} | ${n0(f.late)} | ${n0(f.serverRssMb)} | ${n0(f.clientCpuPct)} | ${n0(f.redisCpuPct)} | ${f.sustained ? 'yes' : 'no'} | ${notes} |`,
    );
  }
  return rows;
}

function capacityTable(figures: Figures[], smoke: boolean): string[] {
  if (smoke) {
    // At a few hundred connections, RSS per connection and connects/s are noise (even negative).
    const rows = ['| system | processes | connections | alive after hold | notes |', '|---|---|---:|---:|---|'];
    for (const f of figures) rows.push(`| ${f.system} | ${f.step} | ${n0(f.connections)} | ${n0(f.alive ?? NaN)} | ${f.notes.join('; ')} |`);
    return rows;
  }
  const rows = [
    '| system | processes | connections | connects/s | server CPU µs / connect | alive after hold | server RSS MB | RSS / connection KB | server CPU % | client CPU % | notes |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const f of figures) {
    rows.push(
      `| ${f.system} | ${f.step} | ${n0(f.connections)} | ${n0(f.connectsPerS ?? NaN)} | ${n0(f.serverUsPerConnect ?? NaN)} | ${n0(f.alive ?? NaN)} | ${n0(f.serverRssMb)} | ${n2(f.rssPerConnKb ?? NaN)} | ${n0(f.serverCpuPct)} | ${n0(f.clientCpuPct)} | ${f.notes.join('; ')} |`,
    );
  }
  return rows;
}

function stormTable(figures: Figures[], smoke: boolean): string[] {
  if (smoke) {
    const rows = ['| system | clients | caught up | delivered | expected | lost / dup / reord | notes |', '|---|---|---:|---:|---:|---|---|'];
    for (const f of figures) rows.push(`| ${f.system} | ${f.step} | ${f.catchUp ? n0(f.catchUp.clients) : '-'} | ${n0(f.delivered)} | ${n0(f.expected)} | ${f.lost} / ${f.duplicates} / ${f.reordered} | ${f.notes.join('; ')} |`);
    return rows;
  }
  const rows = [
    '| system | clients | caught up | catch-up p50 ms | catch-up p99 ms | catch-up max ms | reconnects took ms | delivered | lost / dup / reord | live p99 ms | server CPU % | notes |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|',
  ];
  for (const f of figures) {
    const c = f.catchUp;
    rows.push(
      `| ${f.system} | ${f.step} | ${c ? n0(c.clients) : '-'} | ${c ? ms(c.p50Ms) : '-'} | ${c ? ms(c.p99Ms) : '-'} | ${c ? ms(c.maxMs) : '-'} | ${c ? n0(c.reconnectMs) : '-'} | ${n0(f.delivered)} | ${f.lost} / ${f.duplicates} / ${f.reordered} | ${ms(f.p99Ms)} | ${n0(f.serverCpuPct)} | ${f.notes.join('; ')} |`,
    );
  }
  return rows;
}

export function renderMarkdown(r: BenchReport): string {
  const m = r.machine;
  const smoke = r.mode === 'smoke';
  const out: string[] = [
    smoke ? '# scout-realtime benchmark: smoke run' : '# scout-realtime benchmark (full run)',
    '',
    ...(smoke
      ? [
          '**A smoke run, not a measurement:** tiny sizes for a few seconds, to prove every system still delivers every event. ' +
            'Throughput, latency, memory and the comparison between systems mean nothing at this size and are left out; `npm run bench` measures them.',
          '',
        ]
      : []),
    `${r.startedAt}, ${n0(r.durationS)} s. Systems: ${r.systems.map((s) => `${s} = ${SYSTEMS[s].title}`).join('; ')}.`,
    '',
    `Sizes: ${describeSizes(r.sizes)}.`,
    '',
    '## Machine',
    '',
    `- CPU: ${m.cpuModel}, ${m.cores} cores; memory ${m.memoryGiB} GiB; ${m.kernel}`,
    `- Node ${m.node}; uWebSockets.js native: ${m.uwsNative ? `yes (${m.uwsBinary?.split('/').pop() ?? ''})` : 'NO (slow fallback)'}; ${m.redis}; ${m.postgres}`,
    `- Sources: ${m.sources}`,
    `- Servers run as ${m.serversRunAs}; each server, the publisher and every load client is its own process.`,
    '- Everything shares the machine: servers, Redis, publisher, load clients (and possibly other work — see the load average at the start of each scenario). ' +
      'Deliveries per server CPU-second (utime+stime of the server processes from /proc) is the figure that holds on a shared machine.',
    '- Latency: from the emit moment (host monotonic clock, in metadata.emitted_at_us, taken before JobEventLog.append) to receipt in the load client.',
    '',
  ];
  if (r.ratios.length > 0 && !smoke) {
    out.push('## Our gateway against each peer (same run)', '', '| scenario | figure | peer | gateway | peer | ratio |', '|---|---|---|---:|---:|---:|');
    for (const x of r.ratios) out.push(`| ${x.scenario} | ${x.what} | ${x.peer} | ${n1(x.ours)} | ${n1(x.theirs)} | ${n2(x.ratio)} × |`);
    out.push('');
  }
  if (r.targets.length > 0) {
    out.push(smoke ? '## Delivery checks' : '## Performance and delivery targets', '', '| scenario | target | measured | met |', '|---|---|---|---|');
    for (const t of r.targets) out.push(`| ${t.scenario} | ${t.target} | ${t.measured} | ${t.met === null ? '-' : t.met ? 'yes' : '**no**'} |`);
    out.push('');
  }
  for (const s of r.scenarios) {
    const [a, b, c] = s.loadAvgAtStart;
    out.push(`## ${s.id}: ${s.title}`, '', `Load average at start: ${n2(a)} / ${n2(b)} / ${n2(c)}; took ${n0(s.durationS)} s.`, '');
    if (s.skipped) {
      out.push(`Not run: ${s.skipped}`, '');
      continue;
    }
    for (const e of s.errors) out.push(`- error: ${e}`);
    if (s.errors.length) out.push('');
    if (s.id === 'S3') out.push(...capacityTable(s.figures, smoke));
    else if (s.id === 'S4') out.push(...stormTable(s.figures, smoke));
    else if (s.id === 'S6') out.push(...(r.multiplex ? renderMultiplex(r.multiplex) : []));
    else if (s.id === 'S7') out.push(...(r.emitCost ? renderEmitCost(r.emitCost) : []));
    else if (s.id === 'S8') out.push(...(r.finishedBytes ? renderFinishedBytes(r.finishedBytes) : []));
    else if (s.id !== 'S5') out.push(...deliveryTable(s.figures, smoke));
    if (s.id === 'S1' && !smoke) {
      const rates = r.systems.map((sys) => `${sys} ${maxSustainedRate(s.figures, sys) ?? 'none'}`).join(', ');
      out.push('', `Highest sweep rate sustained (p99 < 1 s, ≥ 97 % delivered), events/s to ${s.figures[0]?.connections ?? 0} subscribers: ${rates}.`);
    }
    if (s.id === 'S5' && r.pipeline && smoke) {
      const p = r.pipeline;
      out.push(`- ${p.jobs} jobs enqueued over HTTP, ${p.workers} workers: ${p.completed} completed, ${p.failed} failed; ${n0(p.events)} events, ${n0(p.flights)} flight rows`, ...p.notes.map((n) => `- ${n}`));
    } else if (s.id === 'S5' && r.pipeline) {
      const p = r.pipeline;
      const total = p.cpuS.workers + p.cpuS.gateway + p.cpuS.redis + p.cpuS.postgres;
      const share = (x: number) => `${n1(x)} s (${n0(total > 0 ? (x / total) * 100 : 0)} %)`;
      out.push(
        `- ${p.jobs} jobs (1 origin × 2 destinations × 1 date range × 4 simulated scrapers at ${p.scraperLatencyMs} ms), ${p.workers} workers: ` +
          `${p.completed} completed, ${p.failed} failed in ${n1(p.elapsedS)} s → **${n1(p.jobsPerS)} jobs/s**, ${n0(p.events)} events → **${n0(p.eventsPerS)} events/s**; ${n0(p.flights)} flight rows`,
        `- enqueue over HTTP took ${n1(p.enqueueS)} s; per job: queue wait p50 ${n0(p.queueWaitMs.p50)} ms (max ${n0(p.queueWaitMs.max)}), run p50 ${n0(p.runMs.p50)} ms (max ${n0(p.runMs.max)})`,
        `- CPU while the jobs ran: workers ${share(p.cpuS.workers)}, gateway ${share(p.cpuS.gateway)}, Redis ${share(p.cpuS.redis)}, Postgres backends ${share(p.cpuS.postgres)}`,
        ...(p.emits && p.emits.calls > 0
          ? [`- the workers' emits: ${n0(p.emits.events)} events in ${n0(p.emits.calls)} script calls, ${n2(p.emits.sections / p.emits.calls)} jobs and ${n2(p.emits.events / p.emits.calls)} events a call, ${n2(p.emits.events / p.emits.sections)} events a job's section`]
          : []),
        ...p.notes.map((n) => `- ${n}`),
      );
    }
    out.push('');
  }
  if (r.profiles.length > 0) {
    out.push('## CPU profiles', '');
    for (const p of r.profiles) out.push(renderProfile(p));
  }
  return out.join('\n');
}

function describeSizes(z: Sizes): string {
  return [
    `S1 ${n0(z.s1.subscribers)} subscribers at ${n0(z.s1.rate)}/s for ${n1(z.s1.durationMs / 1000)} s (sweep ${z.s1.sweepRates.join(', ')}/s)`,
    `S2 ${n0(z.s2.jobs)} jobs × ${z.s2.perJob} at ${n0(z.s2.rate)}/s for ${n1(z.s2.durationMs / 1000)} s`,
    `S3 ${n0(z.s3.single)} then ${n0(z.s3.multi)} connections, held ${n1(z.s3.holdMs / 1000)} s`,
    `S4 ${n0(z.s4.clients)} clients resuming ${z.s4.back} back at ${z.s4.rate}/s`,
    `S5 ${z.s5.jobs} jobs, ${z.s5.workers} workers`,
  ].join('; ');
}
