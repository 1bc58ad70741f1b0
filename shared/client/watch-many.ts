import { WebSocket } from 'ws';
import type { ScrapingEvent } from '../events.js';
import { formatEventLine } from './event-line.js';
import type { OutputStream } from './live-output.js';
import { renderProgressBar } from './progress-bar.js';
import { ScoutClient, type MuxWebSocketConstructor } from './scout-client.js';

/** One job's line: `job 12  ███████░░░  37.5 %  results=42  running`. */
export function jobLine(jobId: number, last: ScrapingEvent | null, state: string): string {
  const bar = renderProgressBar(last?.progress ?? null, 20);
  return `job ${String(jobId).padEnd(6)} ${bar}  results=${String(last?.results_count ?? 0).padEnd(5)} ${state}`;
}

/**
 * `scout-watch 12 13 14`: follows several jobs on one WS /ws connection until every one ended. On
 * a terminal, one progress line per job, redrawn in place (progress at most 4 times a second,
 * throttled by the gateway); elsewhere one plain line per event, prefixed with its job.
 * Resolves with the exit status: 0 all completed, 1 any failed or unknown, 3 the connection gave up.
 */
export async function watchMany(jobIds: readonly number[], url: string, out: OutputStream, err: OutputStream, apiKey?: string): Promise<number> {
  const live = out.isTTY === true;
  // With access control on, the owner's API key authorizes every job of the connection at once.
  class KeyedWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, apiKey ? { headers: { Authorization: `Bearer ${apiKey}` } } : {});
    }
  }
  const client = new ScoutClient({ baseUrl: url, WebSocket: KeyedWebSocket as unknown as MuxWebSocketConstructor, sseFallbackAfter: Number.POSITIVE_INFINITY });
  const rows = new Map(jobIds.map((id) => [id, { last: null as ScrapingEvent | null, state: 'connecting', done: false, ok: true }]));
  let drawn = false;
  const draw = () => {
    if (!live) return;
    if (drawn) out.write(`\x1b[${rows.size}A`);
    for (const [id, row] of rows) out.write(`\r\x1b[2K${jobLine(id, row.last, row.state)}\n`);
    drawn = true;
  };
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  const settleIfDone = () => {
    if ([...rows.values()].every((r) => r.done)) finish([...rows.values()].every((r) => r.ok) ? 0 : 1);
  };
  for (const jobId of jobIds) {
    const row = rows.get(jobId)!;
    // Piped output gets every event from the first (history replayed); a terminal only the latest state.
    const subscription = client.subscribe(jobId, live ? { progressIntervalMs: 250 } : { resumeFrom: { lastSeq: 0, epoch: null } });
    const show = (event: ScrapingEvent, snapshot: boolean) => {
      row.last = event;
      row.state = snapshot ? event.status : event.event_type;
      if (live) draw();
      else out.write(`job ${jobId}  ${formatEventLine(event, { snapshot })}\n`);
    };
    subscription.on('snapshot', (s) => show(s, true));
    subscription.on('event', (e) => show(e, false));
    subscription.on('end', (e) => {
      row.done = true;
      row.ok = e.status === 'completed';
      row.state = e.status;
      draw();
      settleIfDone();
    });
    subscription.on('error', (e) => {
      row.done = true;
      row.ok = false;
      row.state = e.code === 'NOT_FOUND' ? 'not found' : e.code;
      if (live) draw();
      else err.write(`job ${jobId}: ${e.code}: ${e.message}\n`);
      settleIfDone();
    });
  }
  client.on('status', (status, detail) => {
    if (status === 'reconnecting' && (detail.attempt ?? 0) > 15) finish(3);
    else if (status === 'reconnecting') err.write(`connection lost; reconnecting (attempt ${detail.attempt})\n`);
    else if (status === 'closed') finish(3);
  });
  const onSignal = () => finish(130);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const code = await finished;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  client.close();
  return code;
}
