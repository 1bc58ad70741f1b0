import { describe, expect, it } from 'vitest';
import type { Figures } from '../bench/harness.js';
import type { BenchReport, ScenarioReport } from '../bench/report.js';
import { smokeProblems } from '../bench/run.js';
import { SMOKE } from '../bench/sizes.js';
import type { PipelineFigures } from '../bench/scenarios/s5-pipeline.js';

/*
 * The smoke benchmark's verdict on made-up reports: each way a run can go wrong must be a
 * problem (so `npm run bench -- --smoke` exits 1 and the smoke test fails), and a clean run none.
 */

const figure = (scenario: string, system: string, over: Partial<Figures> = {}): Figures =>
  ({
    scenario,
    system,
    step: 'step',
    connections: 10,
    published: 10,
    expected: 100,
    delivered: 100,
    lost: 0,
    late: 0,
    duplicates: 0,
    reordered: 0,
    closes: {},
    notes: [],
    ...(scenario === 'S3' ? { alive: 100, connections: 100 } : {}),
    ...over,
  }) as unknown as Figures;

const scenario = (id: ScenarioReport['id'], figures: Figures[], over: Partial<ScenarioReport> = {}): ScenarioReport => ({
  id,
  title: id,
  loadAvgAtStart: [0, 0, 0],
  durationS: 1,
  figures,
  skipped: null,
  errors: [],
  ...over,
});

function report(change: (r: BenchReport) => void = () => undefined): BenchReport {
  const systems = ['gateway', 'relay'] as const;
  const r = {
    mode: 'smoke',
    sizes: SMOKE,
    systems: [...systems],
    scenarios: [
      scenario('S1', systems.map((s) => figure('S1', s))),
      scenario('S2', systems.map((s) => figure('S2', s))),
      scenario('S3', systems.map((s) => figure('S3', s))),
      scenario('S4', [figure('S4', 'gateway'), figure('S4', 'relay', { lost: 20, delivered: 80 })]),
      scenario('S5', []),
    ],
    pipeline: { jobs: 3, completed: 3, failed: 0 } as PipelineFigures,
  } as unknown as BenchReport;
  change(r);
  return r;
}

const fig = (r: BenchReport, id: string, system = 'gateway') => r.scenarios.find((s) => s.id === id)!.figures.find((f) => f.system === system)!;

describe('smoke benchmark verdict', () => {
  it('finds nothing wrong with a clean run (a peer without resume may lose in the storm)', () => {
    expect(smokeProblems(report())).toEqual([]);
  });

  it.each<[string, (r: BenchReport) => void, RegExp]>([
    ['an event still missing at the end', (r) => (fig(r, 'S1').late = 3), /S1 gateway step: 3 events never arrived/],
    ['fewer deliveries than expected', (r) => (fig(r, 'S2', 'relay').delivered = 99), /S2 relay step: delivered 99 of 100/],
    ['a loss', (r) => (fig(r, 'S2').lost = 1), /S2 gateway step: lost 1/],
    ['nothing expected', (r) => Object.assign(fig(r, 'S1'), { expected: 0, delivered: 0 }), /nothing was expected/],
    ['an S3 connection not alive', (r) => (fig(r, 'S3').alive = 99), /S3 gateway step: 99 of 100 connections alive/],
    ['an S3 connection that never opened', (r) => (fig(r, 'S3', 'relay').connections = 90), /S3 relay step: 100 of 100 connections alive \(90 opened\)/],
    ['our gateway losing in the storm', (r) => (fig(r, 'S4').lost = 2), /S4 gateway step: lost 2/],
    ['S5 skipped', (r) => (r.scenarios.find((s) => s.id === 'S5')!.skipped = 'not available'), /S5 skipped: not available/],
    ['S5 without figures', (r) => (r.pipeline = null), /S5: no pipeline figure/],
    ['S5 with a job not completed', (r) => (r.pipeline!.completed = 2), /S5: 2 of 3 jobs completed/],
    ['a system without figures', (r) => (r.scenarios[0]!.figures = r.scenarios[0]!.figures.filter((f) => f.system !== 'relay')), /S1: no figures for relay/],
    ['a scenario error', (r) => r.scenarios[1]!.errors.push('relay: boom'), /S2: relay: boom/],
  ])('reports %s', (_what, change, problem) => {
    const problems = smokeProblems(report(change));
    expect(problems.some((p) => problem.test(p)), problems.join('\n')).toBe(true);
  });
});
