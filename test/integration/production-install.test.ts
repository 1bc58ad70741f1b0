import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { READY_MESSAGE, ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from '../helpers/services.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * What the images ship: `npm ci --omit=dev` and the compiled dist/, nothing else. Both services
 * must start from it, with no TypeScript runner and no bundler installed, and the gateway must
 * serve the dashboard's SDK bundle that `npm run build` made.
 */
describe('a production install (npm ci --omit=dev and dist/)', () => {
  let dir: string;
  let database: TestDatabase;
  let redis: TestRedis;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist/gateway/public/client/job-stream.js'))) {
      execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
    }
    dir = mkdtempSync(join(tmpdir(), 'scout-prod-'));
    cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    cpSync(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'));
    cpSync(join(ROOT, 'dist/shared'), join(dir, 'dist/shared'), { recursive: true });
    cpSync(join(ROOT, 'dist/gateway'), join(dir, 'dist/gateway'), { recursive: true });
    cpSync(join(ROOT, 'dist/worker'), join(dir, 'dist/worker'), { recursive: true });
    execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'ignore', timeout: 120_000 });
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
    await Promise.all([database?.drop(), redis?.cleanup()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function start(kind: 'gateway' | 'worker', extra: Record<string, string> = {}): Promise<ServiceProcess> {
    const env = { ...serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }), NODE_ENV: 'production', ...extra };
    const child = spawn(process.execPath, [`dist/${kind}/main.js`], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service = new ServiceProcess(`prod-${kind}`, child);
    services.push(service);
    await service.waitForLog(READY_MESSAGE[kind], 30_000);
    return service;
  }

  it('installs no build tools', () => {
    for (const tool of ['tsx', 'esbuild', 'typescript', 'vitest']) {
      expect(existsSync(join(dir, 'node_modules', tool)), `${tool} in the production install`).toBe(false);
    }
  });

  it('starts both services from dist/, serves the SDK bundle, and runs a job to completion', async () => {
    const gateway = await start('gateway', { HOST: '127.0.0.1', PORT: '0', AUTH_ENABLED: 'false' });
    await start('worker');
    const base = `http://127.0.0.1:${Number((await gateway.waitForLog(READY_MESSAGE.gateway)).port)}`;

    const sdk = await fetch(`${base}/client/job-stream.js`);
    expect(sdk.status).toBe(200);
    expect(sdk.headers.get('content-type')).toMatch(/javascript/);
    expect((await sdk.text()).length).toBeGreaterThan(10_000);

    const enqueued = await fetch(`${base}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ origins: ['MUC'], destinations: ['BCN'], date_ranges: [[isoDaysAhead(30), isoDaysAhead(37)]], scrapers: ['sim-ryanair'] }),
    });
    expect(enqueued.status, await enqueued.clone().text()).toBe(202);
    const { job_id: jobId } = (await enqueued.json()) as { job_id: number };
    await expect
      .poll(async () => ((await (await fetch(`${base}/ws/scraping/${jobId}/status`)).json()) as { status: string }).status, {
        timeout: 20_000,
        interval: 100,
      })
      .toBe('completed');
  });
});

function isoDaysAhead(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}
