#!/usr/bin/env node
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadConfigOrExit } from '../startup.js';
import { postgresAdvice, postgresDependency, probe, redisAdvice, redisDependency, startLocalPostgres, startLocalRedis, type LocalRedis } from './local-services.js';
import { pipePrefixed } from './prefixed-output.js';

/**
 * `npm run dev`: a gateway and a worker in one terminal. Checks Redis and Postgres first (starting
 * a throw-away local redis-server when it can, saying exactly how to start what is missing
 * otherwise), runs both services with readable logs behind their names, prints the dashboard's
 * URL once the gateway serves it, and stops both on Ctrl-C.
 */
const USAGE = `Usage: npm run dev [-- --no-start]

Runs a gateway and a worker together, after checking Redis and Postgres ($REDIS_URL,
$DATABASE_URL; defaults on 127.0.0.1). A Redis missing on this machine is started
(redis-server, no persistence), and so is a local Postgres cluster that is down
(pg_ctlcluster, as root), unless --no-start; anything else missing is explained.
Ctrl-C stops both. Exit status: 0 stopped by Ctrl-C; 1 a dependency is missing or a
service stopped by itself; 130 interrupted before the services ran.
`;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SERVICES = { gateway: 'gateway/main.ts', worker: 'worker/main.ts' } as const;
const STOP_TIMEOUT_MS = 15_000;
const ANSI = /\x1b\[[0-9;]*m/g;

let values: { 'no-start'?: boolean; help?: boolean };
try {
  ({ values } = parseArgs({ options: { 'no-start': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const config = loadConfigOrExit('dev');

// From here on a signal never leaves a redis-server or a service behind: before the services
// run it stops what was started so far; once they run, stopAll drains them.
let localRedis: LocalRedis | null = null;
/** What this run started and must stop (assigned from callbacks, hence an object). */
const started: { redis: ChildProcess | null } = { redis: null };
let running = false;
const onSignal = () => {
  if (running) {
    void stopAll();
    return;
  }
  started.redis?.kill('SIGTERM');
  process.exit(130);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
const say = (text: string) => process.stdout.write(`${text}\n`);
const reasonOf = (error: unknown) => {
  const e = error as { code?: string; message?: string };
  return e?.code === 'ECONNREFUSED' ? 'connection refused' : (e?.message ?? String(error)).split('\n')[0]!;
};

const redisProblem = await probe(redisDependency(config.redisUrl));
if (redisProblem !== null) {
  localRedis = values['no-start'] ? null : await startLocalRedis(config.redisUrl, (child) => (started.redis = child));
  if (localRedis) {
    say(`Redis was not running: started redis-server on 127.0.0.1:${localRedis.port} (no persistence; it stops with this run).`);
  } else {
    process.stderr.write(`${redisAdvice(config.redisUrl, reasonOf(redisProblem))}\n`);
    process.exit(1);
  }
}
let postgresProblem = await probe(postgresDependency(config.databaseUrl));
if (postgresProblem !== null && (postgresProblem as { code?: string }).code === 'ECONNREFUSED' && !values['no-start']) {
  const cluster = await startLocalPostgres(config.databaseUrl);
  if (cluster) {
    say(`Postgres was not running: started the local cluster ${cluster} (it keeps running after this run).`);
    postgresProblem = null;
  }
}
if (postgresProblem !== null) {
  process.stderr.write(`${postgresAdvice(config.databaseUrl, postgresProblem, reasonOf(postgresProblem))}\n`);
  started.redis?.kill('SIGTERM');
  process.exit(1);
}

running = true;
const colour = process.stdout.isTTY === true;
// Development on this machine: access control off (no key, no token; the gateway warns at start)
// and the gateway on loopback only, unless the environment says otherwise.
const access = process.env.AUTH_ENABLED ? {} : { AUTH_ENABLED: 'false', HOST: process.env.HOST || '127.0.0.1' };
const env = { ...process.env, ...access, LOG_FORMAT: process.env.LOG_FORMAT || 'pretty', ...(colour ? { FORCE_COLOR: '1' } : {}) };
const children = new Map<string, ChildProcess>();
let stopping = false;
let exitCode = 0;

for (const [index, [name, entry]] of Object.entries(SERVICES).entries()) {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.set(name, child);
  pipePrefixed(child.stdout!, process.stdout, name, index, colour, name === 'gateway' ? announceUrl : undefined);
  pipePrefixed(child.stderr!, process.stderr, name, index, colour);
  child.once('exit', (code, signal) => {
    children.delete(name);
    if (!stopping) {
      say(`${name} stopped by itself (${signal ?? `exit ${code}`}); stopping the rest.`);
      exitCode = 1;
      void stopAll();
    } else if (children.size === 0) {
      finish();
    }
  });
}

let announced = false;
function announceUrl(line: string): void {
  const match = /dashboard and API at (https?:\/\/\S+)/.exec(line.replace(ANSI, ''));
  if (!match || announced) return;
  announced = true;
  say(`\n  scout-realtime is running: open ${match[1]} — Ctrl-C stops the gateway and the worker\n`);
}

async function stopAll(): Promise<void> {
  stopping = true;
  if (children.size === 0) return finish();
  for (const child of children.values()) child.kill('SIGTERM');
  setTimeout(() => {
    for (const child of children.values()) child.kill('SIGKILL');
  }, STOP_TIMEOUT_MS).unref();
}

function finish(): void {
  started.redis?.kill('SIGTERM');
  process.exitCode = exitCode;
}

// In a terminal, Ctrl-C reaches the services too (one process group); they drain on either signal.
