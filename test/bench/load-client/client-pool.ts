import { Histogram } from '../lib/histogram.js';
import { IpcChild } from './ipc-child.js';
import type { ClientCommand, ClientReply, ConnectionSpec, ConnectResult, PhaseFigures, ProgressResult, StatsResult, WireProtocol } from './messages.js';

const CLIENT_ENTRY = new URL('./client-main.ts', import.meta.url).href;

type ClientProcess = IpcChild<ClientCommand, ClientReply>;

export interface ConnectSummary {
  opened: number;
  failed: number;
  elapsedMs: number;
  errors: Record<string, number>;
}

export type PhaseStats = PhaseFigures<Histogram>;

/**
 * The load clients of a run: several processes (each with its own open-file limit), the
 * connections split between them in contiguous slices.
 */
export class ClientPool {
  private constructor(private readonly processes: ClientProcess[]) {}

  static async start(count: number, openFiles: number): Promise<ClientPool> {
    const processes = Array.from({ length: count }, () => IpcChild.fork<ClientCommand, ClientReply>(CLIENT_ENTRY, openFiles));
    await Promise.all(processes.map((p) => p.ready));
    return new ClientPool(processes);
  }

  get pids(): number[] {
    return this.processes.map((p) => p.pid);
  }

  /** Opens every connection; reports how long the slowest process took. */
  async connect(specs: ConnectionSpec[], protocol: WireProtocol, options: { window?: number; resume?: boolean; timeoutMs?: number } = {}): Promise<ConnectSummary> {
    const n = this.processes.length;
    const per = Math.ceil(specs.length / n);
    const results = await Promise.all(
      this.processes.map((p, i) =>
        p.request<ConnectResult>({
          type: 'connect',
          protocol,
          specs: specs.slice(i * per, (i + 1) * per),
          globalOffset: i * per,
          window: options.window ?? 128,
          resume: options.resume ?? false,
          timeoutMs: options.timeoutMs ?? 15_000,
        }),
      ),
    );
    return sumConnectResults(results);
  }

  /** Starts a phase: per job, the seq already published; everything above it is expected. */
  async reset(bases: number[]): Promise<void> {
    await Promise.all(this.processes.map((p) => p.request({ type: 'reset', bases })));
  }

  async progress(): Promise<{ unique: number; withSeq: number; live: number; open: number; caughtUp: number; lastReceiptUs: number }> {
    const rs = await Promise.all(this.processes.map((p) => p.request<ProgressResult>({ type: 'progress' })));
    return {
      unique: rs.reduce((a, r) => a + r.unique, 0),
      withSeq: rs.reduce((a, r) => a + r.withSeq, 0),
      live: rs.reduce((a, r) => a + r.live, 0),
      open: rs.reduce((a, r) => a + r.open, 0),
      caughtUp: rs.reduce((a, r) => a + r.caughtUp, 0),
      lastReceiptUs: Math.max(...rs.map((r) => r.lastReceiptUs)),
    };
  }

  /** The phase's figures; `ends` gives per job the last seq published in it. */
  async stats(ends: number[]): Promise<PhaseStats> {
    const rs = await Promise.all(this.processes.map((p) => p.request<StatsResult>({ type: 'stats', ends })));
    const latency = new Histogram();
    const catchUp = new Histogram();
    const closes: Record<string, number> = {};
    for (const r of rs) {
      latency.merge(r.latency);
      catchUp.merge(r.catchUp);
      for (const [k, v] of Object.entries(r.closes)) closes[k] = (closes[k] ?? 0) + v;
    }
    const sum = (f: (r: StatsResult) => number) => rs.reduce((a, r) => a + f(r), 0);
    return {
      connections: sum((r) => r.connections),
      open: sum((r) => r.open),
      unique: sum((r) => r.unique),
      duplicates: sum((r) => r.duplicates),
      reordered: sum((r) => r.reordered),
      lost: sum((r) => r.lost),
      late: sum((r) => r.late),
      expected: sum((r) => r.expected),
      lossyConnections: sum((r) => r.lossyConnections),
      stale: sum((r) => r.stale),
      latency,
      catchUp,
      closes,
      resumes: sum((r) => r.resumes),
      lastReceiptUs: Math.max(...rs.map((r) => r.lastReceiptUs)),
    };
  }

  /** Drops and reconnects every connection of a job (S4). */
  async storm(job: number, back: number, resumeWithLastSeq: boolean, window = 256): Promise<ConnectSummary> {
    const results = await Promise.all(this.processes.map((p) => p.request<ConnectResult>({ type: 'storm', job, back, resumeWithLastSeq, window })));
    return sumConnectResults(results);
  }

  async disconnect(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.request({ type: 'disconnect' })));
  }

  async close(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.exit()));
  }
}

/** One summary of the connect results of every client process. */
function sumConnectResults(results: readonly ConnectResult[]): ConnectSummary {
  const errors: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  return {
    opened: results.reduce((a, r) => a + r.opened, 0),
    failed: results.reduce((a, r) => a + r.failed, 0),
    elapsedMs: Math.max(...results.map((r) => r.elapsedMs)),
    errors,
  };
}
