import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startService } from '../helpers/processes.js';
import { databaseUrl, serviceEnv, uniqueName } from '../helpers/services.js';

async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A database URL on the test Postgres naming a database that does not exist. */
function missingDatabaseUrl(): { url: string; name: string } {
  const url = new URL(databaseUrl());
  const name = uniqueName('missing');
  url.pathname = `/${name}`;
  return { url: url.toString(), name };
}

const TIMEOUT_SECONDS = 2;

/**
 * Starts a service that cannot reach a dependency and waits for it to give up: it must exit 69
 * after STARTUP_TIMEOUT_SECONDS, having written only JSON log lines (one per attempt, then one
 * naming what is missing) and nothing raw on stderr.
 */
async function startDoomed(kind: 'gateway' | 'worker', env: Record<string, string>) {
  const started = Date.now();
  const service = await startService(kind, { ...env, PORT: '0', STARTUP_TIMEOUT_SECONDS: String(TIMEOUT_SECONDS) }, { waitReady: false });
  const exit = await Promise.race([service.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 15_000))]);
  if (exit === null) await service.stop('SIGKILL');
  const raw = [...service.lines.filter((l) => l.level === undefined).map((l) => l.msg), ...service.stderr];
  return { exit, seconds: (Date.now() - started) / 1000, lines: service.lines, raw, output: service.output() };
}

describe('a service whose dependency is missing says so and exits after STARTUP_TIMEOUT_SECONDS', () => {
  it.each(['gateway', 'worker'] as const)('%s with an unreachable Redis, and with a missing database', async (kind) => {
    const redisDown = serviceEnv({ databaseUrl: databaseUrl(), keyPrefix: uniqueName('k') + ':', redisUrl: `redis://127.0.0.1:${await deadPort()}` });
    const missing = missingDatabaseUrl();
    const noDatabase = serviceEnv({ databaseUrl: missing.url, keyPrefix: uniqueName('k') + ':' });
    const [redis, postgres] = await Promise.all([startDoomed(kind, redisDown), startDoomed(kind, noDatabase)]);

    for (const [run, dependency, why] of [
      [redis, 'redis', 'connection refused — is Redis running?'],
      [postgres, 'postgres', `database "${missing.name}" does not exist — create it (createdb`],
    ] as const) {
      expect(run.exit, run.output).toEqual({ code: 69, signal: null });
      expect(run.seconds).toBeGreaterThanOrEqual(TIMEOUT_SECONDS);
      expect(run.seconds).toBeLessThan(TIMEOUT_SECONDS + 8);
      expect(run.raw, 'nothing but JSON log lines').toEqual([]);
      const attempts = run.lines.filter((l) => l.dependency === dependency && l.level === 40);
      expect(attempts.length).toBeGreaterThanOrEqual(2);
      expect(attempts.length).toBeLessThanOrEqual(TIMEOUT_SECONDS + 2);
      for (const line of attempts) {
        expect(line.msg).toContain(`waiting for ${dependency} at `);
        expect(line.msg).toContain(why);
        expect(line).not.toHaveProperty('err'); // no error object, no stack
      }
      const last = run.lines.at(-1)!;
      expect(last.level).toBe(60);
      expect(last.msg).toMatch(new RegExp(`^${dependency} unavailable: gave up after \\d+ s \\(STARTUP_TIMEOUT_SECONDS=${TIMEOUT_SECONDS}\\): .*${why.replace(/[()?]/g, '\\$&')}`));
      expect(run.lines.some((l) => l.msg === 'gateway listening' || l.msg === 'worker ready')).toBe(false);
    }
  });
});

describe('log format', () => {
  // util-linux `script` runs the worker on a pseudo-terminal, as a person's shell would.
  it.skipIf(!existsSync('/usr/bin/script'))('is readable lines (pino-pretty) on a terminal, JSON when piped', async () => {
    const env = { ...serviceEnv({ databaseUrl: databaseUrl(), keyPrefix: uniqueName('k') + ':', redisUrl: `redis://127.0.0.1:${await deadPort()}` }), STARTUP_TIMEOUT_SECONDS: '1' };
    const onTerminal = spawnSync('/usr/bin/script', ['-qec', `${process.execPath} --import tsx worker/main.ts`, '/dev/null'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TERM: 'dumb', ...env },
      encoding: 'utf8',
      timeout: 15_000,
    });
    const lines = onTerminal.stdout.replace(/\x1b\[[0-9;]*m/g, '').split(/\r?\n/).filter(Boolean);
    expect(onTerminal.status).toBe(69);
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\] WARN: waiting for redis at redis:\/\/127\.0\.0\.1:\d+: connection refused — /);
    expect(lines.at(-1)).toMatch(/^\[\d\d:\d\d:\d\d\] FATAL: redis unavailable: gave up after/);
  });
});
