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
        // Not '': an empty value counts as unset and would equal any default. ',' is a list given
        // explicitly with nothing in it; a variable documented "(empty)" must default to exactly that.
        expect(loadConfig({ [variable]: ',' }), `${variable} is documented with an empty default`).toEqual(defaults);
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
