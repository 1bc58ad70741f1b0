import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url);
const README = readFileSync(new URL('README.md', ROOT), 'utf8');

/** The text of a `## heading` section, up to the next `## `. */
function section(heading: string): string {
  const start = README.indexOf(`\n## ${heading}\n`);
  expect(start, `README has a "${heading}" section`).toBeGreaterThanOrEqual(0);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

/** A test named the README's way: the file name without `.test.ts`, in kebab case (`handoff-race`). */
const TEST_NAME = /`([a-z][a-z0-9]*(?:-[a-z0-9]+)+)`/g;

const testFile = (name: string) => ['integration', 'unit'].map((dir) => `test/${dir}/${name}.test.ts`).find((path) => existsSync(new URL(path, ROOT)));

describe('README: Delivery guarantees', () => {
  const text = section('Delivery guarantees');
  // Each promise is a paragraph opening with a bold title.
  const promises = text.split('\n\n').filter((p) => p.startsWith('**'));

  it('has its promises', () => {
    expect(promises.length).toBeGreaterThanOrEqual(8);
  });

  it('names only tests that exist', () => {
    const named = [...text.matchAll(TEST_NAME)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((name) => !testFile(name)), 'named in the README, but no test/integration or test/unit file has that name').toEqual([]);
  });

  it('names at least one test for each promise', () => {
    const untested = promises.filter((p) => ![...p.matchAll(TEST_NAME)].some((m) => testFile(m[1]!))).map((p) => p.slice(0, 60));
    expect(untested, 'promises that name no test').toEqual([]);
  });
});
