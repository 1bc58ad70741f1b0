import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import type { EventDraft, EventType, JobStatus } from '../../shared/events.js';
import { JobEventLog } from '../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../shared/redis/keys.js';
// Two gateways must share a port chosen up front: uWS does not share an ephemeral port it bound.
import { freePort } from '../helpers/ports.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from '../helpers/services.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const params = { origins: ['MUC'], destinations: ['BCN'], date_ranges: [['2027-01-10', '2027-01-17']] as [string, string][], scrapers: ['sim-kiwi' as const] };

function draft(type: EventType, status: JobStatus, progress: number | null, results = 0): EventDraft {
  return { event_type: type, status, progress, results_count: results, message: `${type} at ${progress ?? '-'}`, metadata: {}, timestamp: new Date().toISOString() };
}

interface CliRun {
  stdout: string;
  stderr: string;
  done: Promise<number | null>;
}

/** Runs the CLI as `npm run watch` does (tsx), with stdout a pipe: plain lines, no progress bar. */
function runCli(args: string[], env: Record<string, string> = {}): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', 'shared/client/watch-cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: CliRun = { stdout: '', stderr: '', done: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (run.stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (run.stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  void run.done.then(() => clearTimeout(timer));
  return run;
}

/** The seqs of the event lines the CLI printed (snapshots excluded). */
const printedSeqs = (stdout: string) =>
  stdout
    .split('\n')
    .filter((line) => line && !/ snapshot /.test(line))
    .map((line) => Number(/ #(\d+) /.exec(line)?.[1]));

describe('scout-watch (CLI) against a real gateway', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let gateway: ServiceProcess;
  let url: string;
  let log: JobEventLog;

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    log = new JobEventLog(redis.redis, new RedisKeys(redis.keyPrefix), { maxEvents: 1000, retentionSeconds: 600 });
    gateway = await startService('gateway', serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }, { PORT: '0' }));
    url = `http://127.0.0.1:${await gatewayPort(gateway)}`;
  });
  afterAll(async () => {
    await gateway?.stop();
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  const newJob = async () => (await insertPendingJob(database.db, params)).id;

  it('prints every event of a job as it happens and exits 0 on job_completed', async () => {
    const id = await newJob();
    const cli = runCli([String(id), '--url', url]);
    await expect.poll(() => cli.stdout, { timeout: 15_000 }).toContain(`Connected to job ${id}`);
    await log.append(id, draft('job_started', 'running', 0));
    for (let i = 1; i <= 5; i++) await log.append(id, draft('job_progress', 'running', i * 20 - 10, i));
    await log.append(id, draft('job_completed', 'completed', 100, 5));

    expect(await cli.done).toBe(0);
    const lines = cli.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d  #0  snapshot +Connected to job ${id}  results=0$`));
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d  #1  job_started +job_started at 0  results=0$/);
    expect(lines.at(-1)).toMatch(/  #7  job_completed +job_completed at 100  results=5$/);
    expect(printedSeqs(cli.stdout)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(cli.stdout).not.toContain('\x1b'); // not a terminal: no progress bar, no control codes
    expect(cli.stderr).toBe('');
  });

  it('watches several jobs on one connection (`npm run watch -- 12 13 14`): a line per event, prefixed with its job; exit 1 when one fails', async () => {
    const [a, b, c] = [await newJob(), await newJob(), await newJob()];
    for (const id of [a, b, c]) await log.append(id, draft('job_started', 'running', 0));
    const cli = runCli([String(a), String(b), String(c), '--url', url]);
    await expect.poll(() => [a, b, c].every((id) => cli.stdout.includes(`job ${id}  `)), { timeout: 15_000 }).toBe(true);
    for (let i = 1; i <= 3; i++) for (const id of [a, b, c]) await log.append(id, draft('job_progress', 'running', i * 30, i));
    await log.append(a, draft('job_completed', 'completed', 100, 3));
    await log.append(b, draft('job_completed', 'completed', 100, 3));
    await log.append(c, draft('job_failed', 'failed', 90, 3));
    expect(await cli.done).toBe(1);
    for (const id of [a, b, c]) {
      const lines = cli.stdout.split('\n').filter((line) => line.startsWith(`job ${id}  `));
      expect(printedSeqs(lines.map((line) => line.slice(`job ${id}  `.length)).join('\n'))).toEqual([1, 2, 3, 4, 5]);
    }
  });

  it('replays a job that already ended from its history, and exits 1 when it failed', async () => {
    const id = await newJob();
    await log.append(id, draft('job_started', 'running', 0));
    await log.append(id, draft('job_progress', 'running', 50, 2));
    await log.append(id, { ...draft('job_failed', 'failed', 50, 2), message: 'Job failed: every scraper task failed' });
    const cli = runCli([String(id)], { SCOUT_URL: url });
    expect(await cli.done).toBe(1);
    expect(printedSeqs(cli.stdout)).toEqual([1, 2, 3]);
    expect(cli.stdout).toContain('Job failed: every scraper task failed');
  });

  it('exits 1 for a job that does not exist', async () => {
    const cli = runCli(['2147483000', '--url', url]);
    expect(await cli.done).toBe(1);
    expect(cli.stdout).toMatch(/#0  job_failed +Job 2147483000 not found/);
  });

  it.each([
    [[], 'name the job to watch'],
    [['abc'], 'the job id must be a positive whole number'],
    [['0'], 'the job id must be a positive whole number'],
    [['99999999999'], 'Too big'],
    [['1', 'x'], 'the job id must be a positive whole number'],
    [['1', '--url', 'ftp://example.com'], 'http(s):// or ws(s)://'],
    [['1', '--bogus'], "Unknown option '--bogus'"],
  ])('exits 2 with the usage on bad arguments: %j', async (args, message) => {
    const cli = runCli(args);
    expect(await cli.done).toBe(2);
    expect(cli.stderr).toContain(message);
    expect(cli.stderr).toContain('Usage: scout-watch <job_id> [--url URL]');
    expect(cli.stdout).toBe('');
  });

  it('against a closed port: exits 4 within 5 s with the advice, and no reconnect chatter', async () => {
    const port = await freePort();
    const started = Date.now();
    const cli = runCli(['1'], { SCOUT_URL: `http://127.0.0.1:${port}` });
    expect(await cli.done).toBe(4);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(cli.stderr).toBe(`no gateway at http://127.0.0.1:${port} — is it running? use --url or SCOUT_URL\n`);
    expect(cli.stdout).toBe('');
  });

  it('--help prints the usage and exits 0', async () => {
    const cli = runCli(['--help']);
    expect(await cli.done).toBe(0);
    for (const code of ['0 ', '1 ', '2 ', '3 ', '4 ', '130 ']) expect(cli.stdout).toMatch(new RegExp(`^  ${code}  *\\S`, 'm'));
  });
});

describe('scout-watch across a gateway crash', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let log: JobEventLog;
  let gateways: ServiceProcess[] = [];

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    log = new JobEventLog(redis.redis, new RedisKeys(redis.keyPrefix), { maxEvents: 1000, retentionSeconds: 600 });
  });
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop('SIGKILL')));
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  it('reconnects, resumes after its last seq and prints exactly 1..n', async () => {
    // Two gateways share one port (SO_REUSEPORT), as replicas on one host do: the kernel hands the
    // CLI to one of them; that one is killed and the reconnect lands on the other. Started side
    // by side, they cost one start-up, not two as a kill-and-restart would.
    const port = await freePort();
    const env = serviceEnv(
      { databaseUrl: database.url, keyPrefix: redis.keyPrefix },
      { PORT: String(port), LISTEN_EXCLUSIVE_PORT: 'false', LOG_LEVEL: 'debug' },
    );
    gateways = await Promise.all([1, 2].map((n) => startService('gateway', env, { name: `gateway-${n}` })));
    const id = (await insertPendingJob(database.db, params)).id;
    const cli = runCli([String(id), '--url', `http://127.0.0.1:${port}`]);
    await expect.poll(() => cli.stdout, { timeout: 15_000 }).toContain(`Connected to job ${id}`);
    const servesCli = (g: ServiceProcess) => g.lines.some((l) => l.msg === 'client connected' && l.jobId === id);
    await expect.poll(() => gateways.filter(servesCli).length).toBe(1);
    const [holder, other] = servesCli(gateways[0]!) ? gateways : [gateways[1]!, gateways[0]!];

    await log.append(id, draft('job_started', 'running', 0));
    for (let i = 1; i <= 20; i++) await log.append(id, draft('job_progress', 'running', i, i));
    await expect.poll(() => printedSeqs(cli.stdout).at(-1)).toBe(21);

    await holder!.stop('SIGKILL'); // no close frame: the CLI sees 1006
    for (let i = 21; i <= 40; i++) await log.append(id, draft('job_progress', 'running', i, i)); // while it is away
    await expect.poll(() => servesCli(other!), { timeout: 15_000 }).toBe(true);
    for (let i = 41; i <= 60; i++) await log.append(id, draft('job_progress', 'running', i, i));
    await log.append(id, draft('job_completed', 'completed', 100, 60));

    expect(await cli.done).toBe(0);
    expect(printedSeqs(cli.stdout)).toEqual(Array.from({ length: 62 }, (_, i) => i + 1));
    expect(cli.stderr).toMatch(/connection lost \(closed 1006.*\); reconnecting in \d+\.\d s \(attempt 1\)/);
    const resumed = other!.lines.find((l) => l.msg === 'client connected' && l.jobId === id);
    expect(resumed?.resume).toEqual({ lastSeq: 21, epoch: expect.any(String) });
  });
});
