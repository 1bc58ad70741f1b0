import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../gateway/http/error-codes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

function readmeTable(): [string, string][] {
  const start = README.indexOf('<!-- error-codes:start -->');
  const end = README.indexOf('<!-- error-codes:end -->');
  expect(start, 'README has an error-codes table').toBeGreaterThanOrEqual(0);
  return README.slice(start, end)
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .slice(2)
    .map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()))
    .map(([code, status]) => [code!.replace(/^`(.*)`$/, '$1'), status!]);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'public' ? [] : sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Every error the gateway's code sends: `sendError(r, 404, 'JOB_NOT_FOUND', …)` → [file, 404, code]. */
function sentErrors(): [string, number, string][] {
  const found: [string, number, string][] = [];
  for (const file of sourceFiles(join(ROOT, 'gateway'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/sendError\([^;]*?,\s*(\d{3}),\s*'([A-Z_]+)'/g)) found.push([file.slice(ROOT.length), Number(m[1]), m[2]!]);
  }
  return found;
}

describe('error codes', () => {
  it('the README lists every code of gateway/http/error-codes.ts with its status, and only those', () => {
    expect(readmeTable()).toEqual(Object.entries(ERROR_CODES).map(([code, { status }]) => [code, status === null ? '—' : String(status)]));
  });

  it('every error the gateway sends uses a code of the table, with the status the table gives it', () => {
    const sent = sentErrors();
    expect(sent.length).toBeGreaterThan(10);
    for (const [file, status, code] of sent) {
      expect(Object.keys(ERROR_CODES), `${file}: ${code}`).toContain(code);
      expect(status, `${file}: ${code}`).toBe(ERROR_CODES[code as keyof typeof ERROR_CODES].status);
    }
  });

  it('every code of the table is sent somewhere', () => {
    const gatewayText = sourceFiles(join(ROOT, 'gateway'))
      .filter((file) => !file.endsWith('error-codes.ts'))
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n');
    for (const code of Object.keys(ERROR_CODES)) expect(gatewayText, code).toContain(`'${code}'`);
  });
});
