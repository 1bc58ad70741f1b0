import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const SERVICE_ENTRY = {
  gateway: 'gateway/main.ts',
  worker: 'worker/main.ts',
} as const;

/** The log line (pino `msg`) each service prints once it is ready for traffic. */
export const READY_MESSAGE = {
  gateway: 'gateway listening',
  worker: 'worker ready',
} as const;

export interface LogLine {
  msg?: string;
  level?: number;
  [key: string]: unknown;
}

/** A service started as its own OS process, as in production, with its log lines collected. */
export class ServiceProcess {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    let pending = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const raw = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let line: LogLine;
        try {
          line = JSON.parse(raw) as LogLine;
        } catch {
          line = { msg: raw };
        }
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => (w.match(line) ? (w.resolve(line), false) : true));
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => this.stderr.push(chunk));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves with the first log line (already seen or to come) that matches. */
  waitForLog(match: string | ((l: LogLine) => boolean), timeoutMs = 20_000): Promise<LogLine> {
    const test = typeof match === 'string' ? (l: LogLine) => l.msg === match : match;
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.name}: no log line matching ${String(match)} within ${timeoutMs} ms\n${this.output()}`));
      }, timeoutMs);
      const done = (l: LogLine) => {
        clearTimeout(timer);
        resolve(l);
      };
      this.waiters.push({ match: test, resolve: done });
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (code ${code}, signal ${signal}) before logging ${String(match)}\n${this.output()}`));
      });
    });
  }

  output(): string {
    return [...this.lines.slice(-30).map((l) => JSON.stringify(l)), ...this.stderr.slice(-10)].join('\n');
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends a signal and waits for the process to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill(signal);
    const timer = setTimeout(() => this.running && this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Starts a service with tsx, as `npm run start:<kind>` does, and waits for its ready line. */
export async function startService(
  kind: keyof typeof SERVICE_ENTRY,
  env: Record<string, string>,
  options: { name?: string; waitReady?: boolean } = {},
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVICE_ENTRY[kind]], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const service = new ServiceProcess(options.name ?? kind, child);
  if (options.waitReady !== false) {
    try {
      await service.waitForLog(READY_MESSAGE[kind]);
    } catch (error) {
      // A service that never became ready must not outlive the test that started it.
      await service.stop('SIGKILL');
      throw error;
    }
  }
  return service;
}

/** The port a gateway started with PORT=0 listens on. */
export async function gatewayPort(gateway: ServiceProcess): Promise<number> {
  const line = await gateway.waitForLog(READY_MESSAGE.gateway);
  return Number(line.port);
}
