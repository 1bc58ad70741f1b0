import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseOptions, runBench, smokeProblems } from '../bench/run.js';
import { SYSTEM_NAMES } from '../bench/systems.js';
import { databaseUrl } from '../helpers/services.js';

/** The benchmark's --smoke run, so `npm run bench` never rots: every system measured, nothing lost. */
describe('benchmark smoke run', () => {
  const out = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('has figures for every system in S1–S4, the pipeline figure, and no loss, duplicates or reordering', async () => {
    const started = Date.now();
    const { report, markdown, files } = await runBench({ ...parseOptions(['--smoke', '--out', out]), databaseUrl: databaseUrl(), log: () => undefined });
    const seconds = (Date.now() - started) / 1000;

    expect(smokeProblems(report)).toEqual([]);
    expect(report.ratios.some((r) => r.peer === 'relay')).toBe(true);
    for (const id of ['S1', 'S2', 'S3', 'S4'] as const) {
      const scenario = report.scenarios.find((s) => s.id === id)!;
      for (const system of SYSTEM_NAMES) {
        const figures = scenario.figures.filter((f) => f.system === system);
        expect(figures.length, `${id} ${system}`).toBeGreaterThan(0);
        for (const f of figures) {
          expect(f.delivered, `${id} ${system} ${f.step}`).toBeGreaterThan(0);
          expect(f.serverCpuS, `${id} ${system} ${f.step}`).toBeGreaterThanOrEqual(0);
        }
      }
    }
    // Every event of S1 and S2 reached every subscriber, with a latency measured for each.
    for (const f of report.scenarios.filter((s) => s.id === 'S1' || s.id === 'S2').flatMap((s) => s.figures)) {
      expect(f.delivered, `${f.scenario} ${f.system} ${f.step}`).toBe(f.expected);
      expect(f.p99Ms).toBeGreaterThan(0);
    }
    const storm = report.scenarios.find((s) => s.id === 'S4')!.figures.find((f) => f.system === 'gateway')!;
    expect(storm.catchUp?.clients).toBe(storm.connections);
    // S4's expectation comes from what was published (each client's resume point to the last seq).
    expect(storm.expected).toBeGreaterThanOrEqual(storm.connections * report.sizes.s4.back);
    expect(storm.delivered).toBe(storm.expected);
    // Every connection of S3 is alive; nothing of any figure is still missing at its end.
    for (const f of report.scenarios.find((s) => s.id === 'S3')!.figures) expect(f.alive, `S3 ${f.system} ${f.step}`).toBe(f.connections);
    for (const f of report.scenarios.flatMap((s) => s.figures).filter((x) => x.scenario !== 'S4' || x.system === 'gateway')) {
      expect(f.late, `${f.scenario} ${f.system} ${f.step}: events missing at the end`).toBe(0);
    }
    // S5 ran: present, not skipped, every job completed.
    expect(report.scenarios.map((s) => s.id)).toEqual(['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7', 'S8']);
    // S8 measured the streams of finished jobs, kept for FINISHED_RETENTION_SECONDS.
    expect(report.finishedBytes?.streamBytesPerJob).toBeGreaterThan(0);
    expect(report.finishedBytes?.keptAfterS).toBeLessThanOrEqual(3600);
    // S7 measured the emit script and a bare PUBLISH, and every event reached the subscriber.
    expect(report.emitCost?.rows.map((r) => r.what)).toEqual([
      'emit ×1', 'emit ×3', 'emit ×8', 'emit ×1, 8 jobs a call', 'publish',
      'emit ×1', 'emit ×3', 'emit ×8', 'emit ×1, 8 jobs a call', 'publish',
      'through the sink, one event at a time', 'publish, one event at a time',
      "through the sink, a task's 3 events at a time", "publish, a task's 3 events at a time",
    ]);
    // Jobs emitting through the sink in a closed loop share calls (the group commit), and a
    // task's events share their job's section.
    const loops = report.emitCost!.rows.filter((r) => r.calls);
    expect(loops.map((r) => r.calls!.sectionsPerCall > 1)).toEqual([true, true]);
    expect(loops[1]!.calls!.eventsPerCall / loops[1]!.calls!.sectionsPerCall).toBe(3);
    // S6 delivered every event to every subscription, multiplexed and single-job, and measured
    // each encoding's bytes: MessagePack and deflate carry the same events in fewer bytes than JSON.
    const multiplex = report.multiplex!;
    for (const p of multiplex.phases) expect(p.delivered, p.kind).toBe(p.expected);
    const bytes = multiplex.bytes.shared!;
    expect(bytes.json).toBeGreaterThan(200);
    for (const e of ['json+deflate', 'msgpack', 'msgpack+deflate'] as const) expect(bytes[e], e).toBeLessThan(bytes.json);
    expect(report.emitCost?.notes).toEqual([]);
    expect(report.scenarios.find((s) => s.id === 'S5')!.skipped).toBeNull();
    expect(report.pipeline).not.toBeNull();
    // The workers' emit counters account for every event of the jobs.
    expect(report.pipeline!.emits?.events).toBe(report.pipeline!.events);
    expect(report.pipeline!.jobs).toBe(report.sizes.s5.jobs);
    expect(report.pipeline!.completed).toBe(report.pipeline!.jobs);

    // The report says it is a smoke run, shows the sizes it ran, and leaves out what means nothing at them.
    expect(markdown).toContain('# scout-realtime benchmark: smoke run');
    expect(markdown).toContain('A smoke run, not a measurement');
    expect(markdown).toContain(`S1: fan-out: 1 job × ${report.sizes.s1.subscribers} subscribers`);
    expect(markdown).not.toContain('2,000 subscribers');
    expect(markdown).not.toContain('issue 5');
    expect(markdown).not.toContain('RSS / connection');
    expect(markdown).not.toContain('## Our gateway against each peer');
    expect(markdown).toContain('## Delivery checks');
    expect(report.targets.length).toBeGreaterThan(0);
    expect(report.targets.filter((t) => t.met !== true), 'every delivery check met').toEqual([]);
    expect(readFileSync(files.md, 'utf8')).toBe(`${markdown}\n`);
    expect(JSON.parse(readFileSync(files.json, 'utf8')).mode).toBe('smoke');
    // Seconds-long by design; the bound only catches a smoke run that grew.
    expect(seconds).toBeLessThan(200);
  }, 240_000);
});
