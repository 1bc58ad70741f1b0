import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { ServiceProcess, type LogLine } from './processes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The load balancer config docker compose runs; its LB_* variables point it at local gateways. */
export const HAPROXY_CONFIG = 'gateway/deploy/haproxy.cfg';

/** Debian installs HAProxy in /usr/sbin, which is not on every user's PATH. */
export const HAPROXY_BIN = process.env.HAPROXY_BIN ?? (existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy');

/** Re-exported: HAProxy cannot report the port it bound, so it is given one (see ports.ts). */
export { freePort };

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

export interface LoadBalancer {
  process: ServiceProcess;
  port: number;
  /** HAProxy's name of each gateway, in the order given: gw1, gw2 … */
  servers: string[];
  /** Resolves when HAProxy logs that a server went down (its health check failed). */
  serverDown(server: string, timeoutMs?: number): Promise<unknown>;
  /** Log lines in which HAProxy reported a server down. */
  downReports(): string[];
  /** Ends the haproxy process (by its PID) and waits for it to exit. */
  stop(): Promise<unknown>;
}

/**
 * Runs HAProxy in the foreground with the deployment's config, on a free loopback port, in front
 * of the given gateways (host:port, at most four), and waits until it accepts connections and its
 * health check has passed on every gateway.
 */
export async function startLoadBalancer(gateways: string[]): Promise<LoadBalancer> {
  if (gateways.length < 1 || gateways.length > 4) throw new Error('the config takes 1 to 4 local gateways');
  const port = await freePort();
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', LB_BIND: `127.0.0.1:${port}` };
  gateways.forEach((address, i) => (env[`LB_GATEWAY_${i + 1}`] = address));
  const child = spawn(HAPROXY_BIN, ['-db', '-f', HAPROXY_CONFIG], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lb = new ServiceProcess('haproxy', child);
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (error) => reject(new Error(`cannot run ${HAPROXY_BIN} (apt-get install haproxy): ${error.message}`)));
  });
  await spawned;
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (!lb.running || Date.now() > deadline) {
      await lb.stop('SIGKILL');
      throw new Error(`haproxy did not start listening on ${port}\n${lb.output()}`);
    }
    await sleep(25);
  }
  const servers = gateways.map((_, i) => `gw${i + 1}`);
  // The config logs health check results (option log-health-checks), one line per state change.
  const checkPassed = (server: string) => (l: LogLine) => l.msg?.startsWith(`Health check for server gateways/${server} succeeded`) ?? false;
  try {
    await Promise.all(servers.map((server) => lb.waitForLog(checkPassed(server), 10_000)));
  } catch (error) {
    await lb.stop('SIGKILL');
    throw error;
  }
  const isDown = (server: string) => (l: LogLine) => l.msg?.startsWith(`Server gateways/${server} is DOWN`) ?? false;
  return {
    process: lb,
    port,
    servers,
    serverDown: (server, timeoutMs = 10_000) => lb.waitForLog(isDown(server), timeoutMs),
    downReports: () => lb.lines.map((l) => l.msg ?? '').filter((msg) => / is DOWN/.test(msg)),
    stop: () => lb.stop('SIGTERM', 5000),
  };
}
