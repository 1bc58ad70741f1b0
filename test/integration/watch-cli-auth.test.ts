import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventDraft } from '../../shared/events.js';
import { JobEventLog } from '../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { AUTH_ON, createKey, postJob } from '../helpers/auth.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from '../helpers/services.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const draft = (event_type: EventDraft['event_type'], progress: number): EventDraft => ({
  event_type,
  status: event_type === 'job_completed' ? 'completed' : 'running',
  progress,
  results_count: 0,
  message: `${event_type} ${progress}`,
  metadata: {},
  timestamp: new Date().toISOString(),
});

function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'shared/client/watch-cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) => child.once('exit', (code) => (clearTimeout(timer), resolve({ code, stdout }))));
}

describe('scout-watch with access control on', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let gateway: ServiceProcess;
  let url: string;
  let key: string;
  let log: JobEventLog;

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    key = await createKey(database.url, 'cli');
    gateway = await startService('gateway', serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }, { ...AUTH_ON, PORT: '0' }));
    url = `http://127.0.0.1:${await gatewayPort(gateway)}`;
    log = new JobEventLog(redis.redis, new RedisKeys(redis.keyPrefix), { maxEvents: 100, retentionSeconds: 600 });
  });
  afterAll(async () => {
    await gateway?.stop();
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  /** A job of the key's whose whole history is already written: the CLI replays it and exits. */
  async function finishedJob() {
    const { body } = await postJob(url, key);
    await log.append(body.job_id, draft('job_started', 0));
    await log.append(body.job_id, draft('job_progress', 50));
    await log.append(body.job_id, draft('job_completed', 100));
    return body as { job_id: number; watch_token: string };
  }

  it('follows a job with --token (or $SCOUT_TOKEN) and exits 0', async () => {
    const job = await finishedJob();
    const byFlag = await runCli([String(job.job_id), '--url', url, '--token', job.watch_token]);
    expect(byFlag.code).toBe(0);
    expect(byFlag.stdout).toContain('job_completed');
    const byEnv = await runCli([String(job.job_id), '--url', url], { SCOUT_TOKEN: job.watch_token });
    expect(byEnv.code).toBe(0);
  });

  it("follows a job with the owner's API key, fetching a token per connection", async () => {
    const job = await finishedJob();
    const run = await runCli([String(job.job_id), '--url', url], { SCOUT_API_KEY: key });
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n').filter((l) => /job_(started|progress|completed)/.test(l))).toHaveLength(3);
  });

  it("is told another job's token opens nothing: the unknown-job answer, exit 1", async () => {
    const mine = await finishedJob();
    const other = await finishedJob();
    const run = await runCli([String(mine.job_id), '--url', url, '--token', other.watch_token]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`Job ${mine.job_id} not found`);
  });
});
