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
    expect(report.pipeline?.completed).toBe(report.pipeline?.jobs);
    expect(report.ratios.some((r) => r.peer === 'relay')).toBe(true);

    expect(markdown).toContain('## Our gateway against each peer');
    expect(readFileSync(files.md, 'utf8')).toBe(`${markdown}\n`);
    expect(JSON.parse(readFileSync(files.json, 'utf8')).mode).toBe('smoke');
    // Seconds-long by design; the bound only catches a smoke run that grew.
    expect(seconds).toBeLessThan(110);
  }, 120_000);
});
