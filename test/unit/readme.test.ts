import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, loadConfig } from '../../shared/config.js';
import { CLOSE_CODES } from '../../shared/protocol.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The body rows of the table between `<!-- name:start -->` and `<!-- name:end -->`, as cells. */
function table(name: string): string[][] {
  const start = README.indexOf(`<!-- ${name}:start -->`);
  const end = README.indexOf(`<!-- ${name}:end -->`);
  expect(start, `README has a ${name} table`).toBeGreaterThanOrEqual(0);
  return README.slice(start, end)
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .slice(2)
    .map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()));
}

const unquote = (cell: string) => cell.replace(/^`(.*)`$/, '$1');

/** Valid values of the usual shapes, to find what a variable drives. */
const SAMPLES = ['1', '8080', 'sim-kiwi', 'https://example.com', 'x', 'localhost:7000'];

/** The paths of the settings a variable changes when set to the first sample it accepts. */
function drivenSettings(variable: string, defaults: unknown): string[][] {
  for (const sample of SAMPLES) {
    let config: unknown;
    try {
      config = loadConfig({ [variable]: sample });
    } catch {
      continue;
    }
    const paths = differences(defaults, config, []);
    if (paths.length > 0) return paths;
  }
  return [];
}

function differences(a: unknown, b: unknown, path: string[]): string[][] {
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (isObject(a) || isObject(b)) {
    const keys = new Set([...Object.keys(isObject(a) ? a : {}), ...Object.keys(isObject(b) ? b : {})]);
    return [...keys].flatMap((k) => differences(isObject(a) ? a[k] : undefined, isObject(b) ? b[k] : undefined, [...path, k]));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path];
}

const valueAt = (config: unknown, path: string[]) => path.reduce<unknown>((x, k) => (x as Record<string, unknown> | undefined)?.[k], config);
const isEmpty = (x: unknown) => x === undefined || x === null || x === '' || (Array.isArray(x) && x.length === 0);

describe('README', () => {
  it('documents every configuration variable, and only those', () => {
    const documented = table('config-table').map(([name]) => unquote(name!));
    expect(documented).toEqual([...CONFIG_VARIABLES]);
  });

  it('states each default exactly: setting the documented value changes nothing', () => {
    const defaults = loadConfig({});
    for (const [name, value] of table('config-table')) {
      const variable = unquote(name!);
      if (value === '(empty)') {
        // Not loadConfig({ [variable]: '' }): an empty value counts as unset and would equal any
        // default. Instead: set the variable, see which settings it drives, and require each of
        // them to be empty by default.
        const driven = drivenSettings(variable, defaults);
        expect(driven.length, `${variable}: no sample value changes the configuration`).toBeGreaterThan(0);
        for (const path of driven) {
          expect(isEmpty(valueAt(defaults, path)), `${variable} is documented "(empty)" but ${path.join('.')} defaults to ${JSON.stringify(valueAt(defaults, path))}`).toBe(true);
        }
        continue;
      }
      if (/^`<.*>`$/.test(value!)) continue; // computed per process, e.g. <hostname>-<pid>
      expect(value, `${variable} default is a literal in backticks`).toMatch(/^`.*`$/);
      expect(loadConfig({ [variable]: unquote(value!) }), variable).toEqual(defaults);
    }
  });

  it('lists every close code of shared/protocol.ts with its number', () => {
    const rows = table('close-codes').map(([code, name]) => [name, Number(code)]);
    expect(Object.fromEntries(rows)).toEqual(CLOSE_CODES);
  });
});
