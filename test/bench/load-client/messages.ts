import type { HistogramData } from '../lib/histogram.js';

/** How a connection speaks: the seed-compatible job socket, or engine.io v4 / Socket.IO. */
export type WireProtocol = 'plain' | 'socketio';

/** One connection to open: which port and which job. */
export interface ConnectionSpec {
  port: number;
  job: number;
}

/** Orchestrator → load client process. */
export type ClientCommand =
  | {
      type: 'connect';
      id: number;
      protocol: WireProtocol;
      specs: ConnectionSpec[];
      /** Index of this batch's first connection among all connections of the run (spreads source addresses). */
      globalOffset: number;
      /** Connects in flight at once in this process. */
      window: number;
      /** Reconnect with ?last_seq after a server close that asks for it (our gateway's resume). */
      resume: boolean;
      timeoutMs: number;
    }
  | { type: 'reset'; id: number; bases: number[] }
  | { type: 'progress'; id: number }
  | { type: 'stats'; id: number; ends: number[] }
  | { type: 'storm'; id: number; job: number; back: number; resumeWithLastSeq: boolean; window: number }
  | { type: 'disconnect'; id: number };

export interface ConnectResult {
  type: 'connected';
  id: number;
  opened: number;
  failed: number;
  errors: Record<string, number>;
  elapsedMs: number;
}

export interface ProgressResult {
  type: 'progress';
  id: number;
  /** Distinct in-phase events received, all connections. */
  unique: number;
  /** Connections that hold at least one seq (a snapshot or an event). */
  withSeq: number;
  /** Connections that received at least one live event. */
  live: number;
  open: number;
  /** Storm clients caught up so far. */
  caughtUp: number;
  lastReceiptUs: number;
}

/** A phase's delivery figures; H is the histogram as sent between processes or as merged. */
export interface PhaseFigures<H> {
  connections: number;
  open: number;
  unique: number;
  duplicates: number;
  reordered: number;
  lost: number;
  /** Events not received yet when the phase was cut off, on connections still open or resuming. */
  late: number;
  /** Events the connections should have received: from each one's phase start to its job's last published seq. */
  expected: number;
  /** Connections that missed at least one event. */
  lossyConnections: number;
  /** Events at or below the phase's starting seq (old news, not counted). */
  stale: number;
  latency: H;
  catchUp: H;
  closes: Record<string, number>;
  resumes: number;
  lastReceiptUs: number;
}

export interface StatsResult extends PhaseFigures<HistogramData> {
  type: 'stats';
  id: number;
}

export type ClientReply = ConnectResult | ProgressResult | StatsResult | { type: 'ack'; id: number } | { type: 'ready' };
