import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const ARCHITECTURE = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8');

/** Made by a build or a test run, not committed: the README may name them. */
const GENERATED = ['dist/', 'test/artifacts/'];

/**
 * Every file or folder the README names: code spans that look like a repository path
 * (`gateway/http/error-codes.ts`, `test/integration/`, `Dockerfile.gateway`) and relative link or
 * image targets (`docs/dashboard.png`).
 */
function mentionedPaths(doc: string): string[] {
  const paths = new Set<string>();
  for (const [, span] of doc.matchAll(/`([^`\s]+)`/g)) {
    const path = span!.replace(/^\.\//, '');
    const looksLikeFile = /^[\w.-]+(\/[\w.-]+)*\.(ts|mjs|js|lua|cfg|yml|yaml|json|md|png|svg|html|css)$/.test(path) && (path.includes('/') || /^[A-Za-z][\w-]*\.[\w.]+$/.test(path));
    const looksLikeFolder = /^[\w.-]+(\/[\w.-]+)*\/$/.test(path);
    if ((looksLikeFile || looksLikeFolder) && !/^\d/.test(path)) paths.add(path);
  }
  for (const [, target] of doc.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^(https?:|#|mailto:)/.test(target!)) continue;
    paths.add(target!.replace(/^\.\//, '').replace(/#.*$/, ''));
  }
  for (const [, name] of doc.matchAll(/`(Dockerfile\.[\w]+|docker-compose\.yml|package\.json)`/g)) paths.add(name!);
  return [...paths].filter((p) => !GENERATED.some((g) => p.startsWith(g)));
}

describe('README', () => {
  it('names only files and folders that exist in the repository', () => {
    const paths = mentionedPaths(README);
    expect(paths.length).toBeGreaterThan(20);
    expect(paths.filter((p) => !existsSync(join(ROOT, p)))).toEqual([]);
  });

  it('points at nothing outside the repository', () => {
    expect(README).not.toMatch(/\(\.\.\/|`\.\.\//);
  });

  it('opens with the quick start: the two commands, a sample run and the page', () => {
    const firstSection = README.slice(README.indexOf('\n## '), README.indexOf('\n## ', README.indexOf('\n## ') + 1));
    expect(firstSection).toMatch(/^\n## Quick start/);
    expect(firstSection).toContain('npm ci\nnpm run dev');
    expect(firstSection).toContain('npm run watch -- 1');
    expect(firstSection).toContain('job_completed');
    expect(firstSection).toContain('](docs/dashboard.png)');
  });
});

describe('ARCHITECTURE.md', () => {
  it('names only files and folders that exist in the repository', () => {
    const paths = mentionedPaths(ARCHITECTURE);
    expect(paths.length).toBeGreaterThan(40);
    expect(paths.filter((p) => !existsSync(join(ROOT, p)))).toEqual([]);
  });

  it('is where the README sends a reader for the map of the code', () => {
    expect(README).toContain('](ARCHITECTURE.md)');
  });
});
