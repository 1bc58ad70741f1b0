import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/ports.js';
import { ServiceProcess, type LogLine } from '../helpers/processes.js';
import { InspectorProfiler } from './lib/inspector-profiler.js';
import { sumCpuSeconds, sumRssKb } from './lib/proc.js';
import type { WireProtocol } from './load-client/messages.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const SYSTEM_NAMES = ['gateway', 'seed', 'socketio', 'relay'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

/** A system under test: how its servers start and how clients talk to it. */
export interface SystemDef {
  name: SystemName;
  title: string;
  entry: string;
  readyMessage: string;
  protocol: WireProtocol;
  /** Events go to Socket.IO rooms through @socket.io/redis-emitter as well. */
  socketIoEmitter: boolean;
  /** Clients reconnect with ?last_seq and are served what they missed. */
  resumes: boolean;
  /** Several processes can listen on one port (uWS with SO_REUSEPORT). */
  sharesPort: boolean;
}

export const SYSTEMS: Record<SystemName, SystemDef> = {
  gateway: {
    name: 'gateway',
    title: 'scout gateway (uWS)',
    entry: 'gateway/main.ts',
    readyMessage: 'gateway listening',
    protocol: 'plain',
    socketIoEmitter: false,
    resumes: true,
    sharesPort: true,
  },
  seed: {
    name: 'seed',
    title: 'seed design (ws, one channel, parse + stringify per socket)',
    entry: 'test/bench/peers/seed-server.ts',
    readyMessage: 'listening',
    protocol: 'plain',
    socketIoEmitter: false,
    resumes: false,
    sharesPort: false,
  },
  socketio: {
    name: 'socketio',
    title: 'Socket.IO 4 + redis adapter',
    entry: 'test/bench/peers/socketio-server.ts',
    readyMessage: 'listening',
    protocol: 'socketio',
    socketIoEmitter: true,
    resumes: false,
    sharesPort: false,
  },
  relay: {
    name: 'relay',
    title: 'bare uWS relay',
    entry: 'test/bench/peers/uws-relay.ts',
    readyMessage: 'listening',
    protocol: 'plain',
    socketIoEmitter: false,
    resumes: false,
    sharesPort: true,
  },
};

export interface ServerEnv {
  redisUrl: string;
  databaseUrl: string;
  keyPrefix: string;
  /** Where phase profiles go, or null for no profile. */
  profileDir: string | null;
  /** The services compiled to JavaScript (buildServices), or null to run the sources under tsx. */
  buildDir: string | null;
  extraEnv?: Record<string, string>;
  /** NODE_OPTIONS for our gateway's processes only (experiments such as --max-semi-space-size). */
  gatewayNodeOptions?: string;
}

/** How node runs an entry: its compiled JavaScript (as in production), or the source under tsx. */
export function entryArgs(buildDir: string | null, entry: string): string[] {
  return buildDir ? [join(buildDir, entry.replace(/\.ts$/, '.js'))] : ['--import', 'tsx', entry];
}

/** The server processes of one system, started for one scenario. */
export class ServerGroup {
  private constructor(
    readonly def: SystemDef,
    readonly processes: ServiceProcess[],
    readonly ports: number[],
    /** Inspector ports when the run profiles (one per process). */
    readonly inspectPorts: number[],
    /** The gateway's own word on its descriptor capacity ('connection capacity' log line). */
    readonly capacity: number | null,
    readonly uwsNative: boolean | null,
  ) {}

  static async start(def: SystemDef, env: ServerEnv, options: { processes?: number; openFiles?: number } = {}): Promise<ServerGroup> {
    const count = options.processes ?? 1;
    const openFiles = options.openFiles ?? 20_000;
    const shared = def.sharesPort ? await freePort() : null;
    const processes: ServiceProcess[] = [];
    const inspectPorts: number[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const port = shared ?? (await freePort());
        const inspectPort = env.profileDir ? await freePort() : null;
        if (inspectPort !== null) inspectPorts.push(inspectPort);
        const childEnv: Record<string, string> = {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          REDIS_URL: env.redisUrl,
          DATABASE_URL: env.databaseUrl,
          KEY_PREFIX: env.keyPrefix,
          HOST: '127.0.0.1',
          PORT: String(port),
          LISTEN_EXCLUSIVE_PORT: def.sharesPort && count > 1 ? 'false' : 'true',
          GATEWAY_ID: `bench-${def.name}-${i}`,
          LOG_LEVEL: 'info',
          WS_IDLE_TIMEOUT_SECONDS: '120',
          DRAIN_TIMEOUT_SECONDS: '1',
          ...env.extraEnv,
          ...(def.name === 'gateway' && env.gatewayNodeOptions ? { NODE_OPTIONS: env.gatewayNodeOptions } : {}),
        };
        const nodeArgs = [
          // Profiled through the inspector, phase by phase (see InspectorProfiler).
          ...(inspectPort !== null ? [`--inspect=127.0.0.1:${inspectPort}`] : []),
          ...entryArgs(env.buildDir, def.entry),
        ];
        // prlimit raises the soft descriptor limit and execs node in place: the pid stays the server's.
        const child = spawn('prlimit', [`--nofile=${openFiles}:${openFiles}`, process.execPath, ...nodeArgs], {
          cwd: ROOT,
          env: childEnv,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const service = new ServiceProcess(`${def.name}-${i}`, child);
        processes.push(service);
        await service.waitForLog(def.readyMessage, 60_000);
      }
    } catch (error) {
      await Promise.all(processes.map((p) => p.stop('SIGKILL')));
      throw error;
    }
    const ports = await Promise.all(processes.map(async (p) => Number((await p.waitForLog(def.readyMessage)).port)));
    const capacityLine: LogLine | undefined = processes[0]!.lines.find((l) => l.msg === 'connection capacity');
    const ready = processes[0]!.lines.find((l) => l.msg === def.readyMessage);
    return new ServerGroup(
      def,
      processes,
      ports,
      inspectPorts,
      capacityLine && typeof capacityLine.maxConnections === 'number' ? capacityLine.maxConnections : null,
      ready && typeof ready.uwsNative === 'boolean' ? ready.uwsNative : null,
    );
  }

  get pids(): number[] {
    return this.processes.map((p) => p.pid);
  }

  cpuSeconds(): number {
    return sumCpuSeconds(this.pids);
  }

  rssKb(): number {
    return sumRssKb(this.pids);
  }

  /** Port of the n-th connection: all on the shared port, or spread over the processes' own ports. */
  portFor(n: number): number {
    return this.ports[n % this.ports.length]!;
  }

  /** SIGTERM (the gateway drains; a --cpu-prof profile is written at exit), SIGKILL after a while. */
  async stop(): Promise<void> {
    for (const p of this.profilers ?? []) p.close();
    this.profilers = null;
    await Promise.all(this.processes.map((p) => p.stop('SIGTERM', 15_000)));
  }

  /**
   * Profiles every process of the group while `body` runs (when the run profiles) and writes one
   * .cpuprofile per process as `<dir>/<name>-<i>.cpuprofile`.
   */
  async profiled<T>(dir: string | null, name: string, body: () => Promise<T>): Promise<T> {
    if (dir === null || this.inspectPorts.length === 0) return body();
    this.profilers ??= await Promise.all(this.inspectPorts.map((port) => InspectorProfiler.connect(port)));
    await Promise.all(this.profilers.map((p) => p.start()));
    try {
      return await body();
    } finally {
      const profiles = await Promise.all(this.profilers.map((p) => p.stop()));
      mkdirSync(dir, { recursive: true });
      profiles.forEach((profile, i) => writeFileSync(join(dir, `${name}-${i}.cpuprofile`), JSON.stringify(profile)));
    }
  }

  private profilers: InspectorProfiler[] | null = null;

  /** Whatever a server logged at warn or above (pino levels ≥ 40). */
  warnings(): string[] {
    return this.processes.flatMap((p) => p.lines.filter((l) => (l.level ?? 0) >= 40).map((l) => `${p.name}: ${l.msg}`));
  }
}
