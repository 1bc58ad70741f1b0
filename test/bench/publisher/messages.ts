/** Orchestrator → publisher process. */
export type PublisherCommand =
  | { type: 'init'; id: number; redisUrl: string; keyPrefix: string; socketIoKey: string | null; maxEvents: number }
  /** Starts jobs first..last with a job_started event each (their seq 1). */
  | { type: 'create-jobs'; id: number; first: number; last: number }
  /**
   * Emits `rate` events per second round-robin over jobs first..last, `count` in all (bounded by
   * `maxMs` too). With `background`, answers at once; `stop` ends it and answers with the result.
   */
  | { type: 'run'; id: number; first: number; last: number; rate: number; count: number; maxMs: number; background: boolean }
  | { type: 'stop'; id: number }
  | { type: 'seqs'; id: number }
  | { type: 'exit' };

export interface RunResult {
  type: 'run';
  id: number;
  published: number;
  failed: number;
  elapsedMs: number;
  /** Highest seq per job index (index = job id). */
  seqs: number[];
  /** Largest delay behind the schedule when an event was sent. */
  maxLagMs: number;
}

export type PublisherReply = RunResult | { type: 'seqs'; id: number; seqs: number[] } | { type: 'ack'; id: number } | { type: 'ready' };
