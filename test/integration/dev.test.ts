import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { httpJson } from '../helpers/ws-client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

interface DevRun {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  done: Promise<number | null>;
}

/** `npm run dev` as its script runs it (tsx), stdout a pipe. */
function runDev(env: Record<string, string>, args: string[] = []): DevRun {
  const child = spawn(process.execPath, ['--import', 'tsx', 'shared/dev/dev-cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: DevRun = { child, stdout: '', stderr: '', done: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (run.stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (run.stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
  void run.done.then(() => clearTimeout(timer));
  return run;
}

async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('npm run dev', () => {
  let database: TestDatabase;
  let redis: TestRedis;

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
  });
  afterAll(async () => {
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  it('runs a gateway and a worker in one terminal, shows the dashboard URL, completes a job, and stops both on Ctrl-C', async () => {
    const dev = runDev(serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }, { PORT: '0' }));
    try {
      await expect.poll(() => dev.stdout, { timeout: 30_000, interval: 100 }).toMatch(/scout-realtime is running: open http:\/\/127\.0\.0\.1:\d+\//);
      const url = /open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(dev.stdout)![1]!;
      // Both services' logs, readable (not JSON) and behind their names.
      await expect.poll(() => dev.stdout, { timeout: 15_000 }).toMatch(/^worker  │ .*worker ready/m);
      expect(dev.stdout).toMatch(/^gateway │ .*gateway listening/m);
      expect(dev.stdout).not.toMatch(/│ \{"level"/);

      const { status, body } = await httpJson(`${url}api/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ origins: ['MUC'], destinations: ['BCN'], date_ranges: [[inDays(30), inDays(37)]], scrapers: ['sim-kiwi'] }),
      });
      expect(status).toBe(202);
      await expect.poll(async () => (await httpJson(`${url}ws/scraping/${body.job_id}/status`)).body.status, { timeout: 15_000 }).toBe('completed');
    } finally {
      dev.child.kill('SIGINT');
    }
    expect(await dev.done).toBe(0);
    expect(dev.stdout).toMatch(/^gateway │ .*gateway stopped/m);
    expect(dev.stdout).toMatch(/^worker  │ .*worker stopped/m);
  });

  it('starts a throw-away redis-server when Redis is missing on this machine, and stops it with the run', async () => {
    const port = await deadPort();
    const dev = runDev(serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix, redisUrl: `redis://127.0.0.1:${port}` }, { PORT: '0' }));
    try {
      await expect.poll(() => dev.stdout, { timeout: 15_000, interval: 100 }).toContain(`started redis-server on 127.0.0.1:${port}`);
    } finally {
      dev.child.kill('SIGINT');
    }
    // 0 once the services ran, 130 when Ctrl-C came before they did: either way the server goes.
    expect([0, 130]).toContain(await dev.done);
    // Nothing listens there any more.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const refused = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => (socket.destroy(), resolve(false)));
      socket.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });

  it('with Redis unreachable, says exactly how to start it and exits non-zero', async () => {
    const port = await deadPort();
    const dev = runDev(serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix, redisUrl: `redis://127.0.0.1:${port}` }, { PORT: '0' }), ['--no-start']);
    expect(await dev.done).toBe(1);
    expect(dev.stderr).toContain(`Redis is not reachable at redis://127.0.0.1:${port} (connection refused). Start it with one of:`);
    expect(dev.stderr).toContain(`redis-server --port ${port} --daemonize yes`);
    expect(dev.stdout).not.toContain('scout-realtime is running');
  });
});
