#!/usr/bin/env node
import { WebSocket } from 'ws';
import { bestOffersOf, type BestOffer } from '../best-offers.js';
import { watchTokenResponseSchema } from '../api.js';
import type { ScrapingEvent } from '../events.js';
import { formatBestDeals } from './best-deals-lines.js';
import { formatEventLine } from './event-line.js';
import { JobStream } from './job-stream.js';
import { LiveOutput } from './live-output.js';
import { queuedNote } from './queued-note.js';
import { parseWatchArgs, USAGE, type WatchArgs } from './watch-args.js';
import { watchMany } from './watch-many.js';

/** `scout-watch <job_id> [--url URL]`: follows a job until it ends; see USAGE for exit codes. */
const EXIT = { completed: 0, failed: 1, usage: 2, lost: 3, unreachable: 4, interrupted: 130 } as const;
/** Failed reconnects in a row before giving up: with the default backoff, a minute or two of outage. */
const MAX_RETRIES = 15;
/** Quick retries of a first connection that never opened (≤ 1.5 s of backoff): a wrong URL is said at once. */
const FIRST_CONNECT_RETRIES = 2;
/** A queued job is said to wait after this long without an event, then this often. */
const QUEUED_NOTE_AFTER_MS = 3000;
const QUEUED_NOTE_EVERY_MS = 30_000;
/** A connect that hangs (a filtered port, a host that is down) counts as failed after this. */
const HANDSHAKE_TIMEOUT_MS = 2000;

/** `ws` with a handshake timeout: without one, a connect to a silent host waits for the OS (minutes). */
class TimedWebSocket extends WebSocket {
  constructor(url: string | URL) {
    super(url, { handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
  }
}

async function watch(args: WatchArgs): Promise<number> {
  const output = new LiveOutput(process.stdout, process.stderr);
  const stream = new JobStream({
    baseUrl: args.url,
    jobId: args.jobId,
    // Node 20 has no global WebSocket; `ws` behaves the same everywhere the CLI runs.
    WebSocket: TimedWebSocket,
    maxRetries: MAX_RETRIES,
    firstConnectRetries: FIRST_CONNECT_RETRIES,
    // "After seq 0": the gateway replays the job's history first, so a job watched late (or
    // already finished) still prints in full.
    resumeFrom: { lastSeq: 0, epoch: null },
    // With an API key, every connection asks for a fresh token: a long watch outlives any one.
    token: args.apiKey ? () => mintWatchToken(args.url, args.jobId, args.apiKey!) : args.token,
  });
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    void stream.close();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const show = (event: ScrapingEvent, snapshot = false) => {
    output.line(formatEventLine(event, { snapshot }));
    if (event.progress !== null) output.progress(event.progress, event.results_count);
  };
  // A job no worker takes looks alive (connected, 0 %): after a few quiet seconds, say it waits.
  let queuedTimer: ReturnType<typeof setTimeout> | undefined;
  const stopQueuedNotes = () => clearTimeout(queuedTimer);
  const noteWhileQueued = (snapshot: ScrapingEvent, after: number) => {
    queuedTimer = setTimeout(() => {
      const note = queuedNote(snapshot, Date.now());
      if (!note) return;
      output.note(note);
      noteWhileQueued(snapshot, QUEUED_NOTE_EVERY_MS);
    }, after);
  };
  stream.on('snapshot', (snapshot, { resync }) => {
    if (resync) output.note('earlier events of this job are no longer available; continuing from its current state');
    show(snapshot, true);
    stopQueuedNotes();
    noteWhileQueued(snapshot, QUEUED_NOTE_AFTER_MS);
  });
  // The job's best deals so far: the last event that carried them (results_updated, job_completed).
  let best: BestOffer[] | null = null;
  stream.on('event', (event) => {
    stopQueuedNotes();
    best = bestOffersOf(event.metadata) ?? best;
    show(event);
  });
  let opened = false;
  let unreachable = false;
  stream.on('status', (status, detail) => {
    if (status === 'open') opened = true;
    // Before any connection was up, quick retries happen silently; UNREACHABLE says the rest.
    if (status === 'reconnecting' && opened) {
      const why = [detail.code !== undefined ? `closed ${detail.code}` : '', detail.reason ?? ''].filter(Boolean).join(': ');
      output.note(`connection lost${why ? ` (${why})` : ''}; reconnecting in ${(detail.delayMs! / 1000).toFixed(1)} s (attempt ${detail.attempt})`);
    }
  });
  stream.on('error', (error) => {
    if (error.code === 'UNREACHABLE') {
      unreachable = true;
      output.note(`no gateway at ${args.url} — is it running? use --url or SCOUT_URL`);
      return;
    }
    if (error.code !== 'STALE_CONNECTION') output.note(`${error.code}: ${error.message}`);
  });

  const end = await stream.start().finished();
  stopQueuedNotes();
  output.finish();
  if (best) for (const line of formatBestDeals(best)) output.line(line);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (end) return end.status === 'completed' ? EXIT.completed : EXIT.failed;
  if (interrupted) return EXIT.interrupted;
  return unreachable ? EXIT.unreachable : EXIT.lost;
}

/** POST /api/jobs/{id}/watch-tokens with the owner's key → a watch token. */
async function mintWatchToken(baseUrl: string, jobId: number, apiKey: string): Promise<string> {
  const url = new URL(baseUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol;
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/api/jobs/${jobId}/watch-tokens`;
  const response = await fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${apiKey}` } });
  const body = watchTokenResponseSchema.safeParse(await response.json().catch(() => null));
  if (!response.ok || !body.success) throw new Error(`the gateway answered ${response.status} to a watch-token request`);
  return body.data.watch_token;
}

const parsed = parseWatchArgs(process.argv.slice(2), process.env.SCOUT_URL, { token: process.env.SCOUT_TOKEN, apiKey: process.env.SCOUT_API_KEY });
if (parsed.kind === 'help') {
  process.stdout.write(USAGE);
} else if (parsed.kind === 'usage-error') {
  process.stderr.write(`scout-watch: ${parsed.message}\n\n${USAGE}`);
  process.exitCode = EXIT.usage;
} else {
  // Exit by running out of work rather than process.exit(), so piped output is flushed first.
  const { args } = parsed;
  process.exitCode = args.jobIds ? await watchMany(args.jobIds, args.url, process.stdout, process.stderr, args.apiKey) : await watch(args);
}
