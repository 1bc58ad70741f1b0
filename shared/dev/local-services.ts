import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { maskUrl, postgresDependency, redisDependency, type Dependency } from '../dependencies.js';

/** Whether a dependency answers now: null when it does, else why not. */
export async function probe(dep: Dependency): Promise<unknown> {
  try {
    await Promise.race([dep.probe(), sleep(3000).then(() => Promise.reject(new Error('no answer within 3 s')))]);
    return null;
  } catch (error) {
    return error ?? new Error('unknown error');
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

function onPath(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0;
}

export interface LocalRedis {
  child: ChildProcess;
  port: number;
}

/**
 * Starts a throw-away redis-server for `npm run dev` when REDIS_URL points at this machine, nothing
 * answers there and the binary is installed: no persistence, bound to loopback, stopped with the
 * dev run. null when it cannot or did not come up.
 */
export async function startLocalRedis(url: string, onSpawn: (child: ChildProcess) => void): Promise<LocalRedis | null> {
  const u = new URL(url);
  if (!LOOPBACK.has(u.hostname) || u.password || !onPath('redis-server')) return null;
  const port = Number(u.port || 6379);
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  onSpawn(child); // the caller stops it, even if interrupted before it answers
  const dep = redisDependency(url);
  for (let i = 0; i < 30; i++) {
    if (child.exitCode !== null) return null;
    if ((await probe(dep)) === null) return { child, port };
    await sleep(100);
  }
  child.kill('SIGTERM');
  return null;
}

/**
 * Starts the local Postgres cluster that serves `url`'s port when it is installed and down
 * (Debian's pg_ctlcluster; it needs root, as the cluster's service would). Whether it answers now.
 */
export async function startLocalPostgres(url: string): Promise<string | null> {
  const u = new URL(url);
  const port = u.port || '5432';
  if (!LOOPBACK.has(u.hostname) || process.getuid?.() !== 0 || !onPath('pg_lsclusters')) return null;
  const cluster = spawnSync('pg_lsclusters', ['-h'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find(([, , clusterPort, status]) => clusterPort === port && status === 'down');
  if (!cluster) return null;
  const [version, name] = cluster;
  const started = spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', version!, name!, 'start'], { stdio: 'ignore' });
  if (started.status !== 0) return null;
  const dep = postgresDependency(url);
  for (let i = 0; i < 50; i++) {
    if ((await probe(dep)) === null) return `${version}/${name}`;
    await sleep(200);
  }
  return null;
}

/** Exactly how to get Redis running at `url`, for a person to copy. */
export function redisAdvice(url: string, reason: string): string {
  const u = new URL(url);
  const port = u.port || '6379';
  return [
    `Redis is not reachable at ${maskUrl(url)} (${reason}). Start it with one of:`,
    `  redis-server --port ${port} --daemonize yes      (Debian/Ubuntu: sudo apt-get install redis-server)`,
    `  docker run -d --name scout-redis -p ${port}:6379 redis:7`,
    `or point REDIS_URL at a running Redis, then run npm run dev again.`,
  ].join('\n');
}

/** Exactly how to get Postgres (or the database) ready at `url`. */
export function postgresAdvice(url: string, error: unknown, reason: string): string {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.slice(1)) || 'postgres';
  const user = decodeURIComponent(u.username) || 'postgres';
  const port = u.port || '5432';
  if ((error as { code?: string })?.code === '3D000') {
    return [
      `Postgres answers at ${u.hostname}:${port}, but the database "${database}" does not exist. Create it:`,
      `  createdb -h ${u.hostname} -p ${port} -U ${user} ${database}`,
      `or point DATABASE_URL at an existing database, then run npm run dev again.`,
    ].join('\n');
  }
  const clusters = onPath('pg_lsclusters') ? spawnSync('pg_lsclusters', ['-h'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean) : [];
  const start = clusters.length
    ? clusters.map((line) => line.split(/\s+/)).map(([version, name]) => `  sudo pg_ctlcluster ${version} ${name} start`)
    : ['  sudo systemctl start postgresql      (Debian/Ubuntu: sudo apt-get install postgresql)'];
  return [
    `Postgres is not reachable at ${maskUrl(url)} (${reason}). Start it with one of:`,
    ...start,
    `  docker run -d --name scout-postgres -e POSTGRES_HOST_AUTH_METHOD=trust -p ${port}:5432 postgres:16`,
    `or point DATABASE_URL at a running Postgres, then run npm run dev again.`,
  ].join('\n');
}

export { postgresDependency, redisDependency };
