#!/usr/bin/env node
import { WebSocket } from 'ws';
import type { ScrapingEvent } from '../events.js';
import { formatEventLine } from './event-line.js';
import { JobStream } from './job-stream.js';
import { LiveOutput } from './live-output.js';
import { parseWatchArgs, USAGE, type WatchArgs } from './watch-args.js';
import { watchMany } from './watch-many.js';

/** `scout-watch <job_id> [--url URL]`: follows a job until it ends; see USAGE for exit codes. */
const EXIT = { completed: 0, failed: 1, usage: 2, lost: 3, interrupted: 130 } as const;
/** Failed reconnects in a row before giving up: with the default backoff, a minute or two of outage. */
const MAX_RETRIES = 15;

async function watch(args: WatchArgs): Promise<number> {
  const output = new LiveOutput(process.stdout, process.stderr);
  const stream = new JobStream({
    baseUrl: args.url,
    jobId: args.jobId,
    // Node 20 has no global WebSocket; `ws` behaves the same everywhere the CLI runs.
    WebSocket,
    maxRetries: MAX_RETRIES,
    // "After seq 0": the gateway replays the job's history first, so a job watched late (or
    // already finished) still prints in full.
    resumeFrom: { lastSeq: 0, epoch: null },
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
  stream.on('snapshot', (snapshot, { resync }) => {
    if (resync) output.note('earlier events of this job are no longer available; continuing from its current state');
    show(snapshot, true);
  });
  stream.on('event', (event) => show(event));
  stream.on('status', (status, detail) => {
    if (status === 'reconnecting') {
      const why = [detail.code !== undefined ? `closed ${detail.code}` : '', detail.reason ?? ''].filter(Boolean).join(': ');
      output.note(`connection lost${why ? ` (${why})` : ''}; reconnecting in ${(detail.delayMs! / 1000).toFixed(1)} s (attempt ${detail.attempt})`);
    }
  });
  stream.on('error', (error) => {
    if (error.code !== 'STALE_CONNECTION') output.note(`${error.code}: ${error.message}`);
  });

  const end = await stream.start().finished();
  output.finish();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (end) return end.status === 'completed' ? EXIT.completed : EXIT.failed;
  return interrupted ? EXIT.interrupted : EXIT.lost;
}

const parsed = parseWatchArgs(process.argv.slice(2), process.env.SCOUT_URL);
if (parsed.kind === 'help') {
  process.stdout.write(USAGE);
} else if (parsed.kind === 'usage-error') {
  process.stderr.write(`scout-watch: ${parsed.message}\n\n${USAGE}`);
  process.exitCode = EXIT.usage;
} else {
  // Exit by running out of work rather than process.exit(), so piped output is flushed first.
  const { args } = parsed;
  process.exitCode = args.jobIds ? await watchMany(args.jobIds, args.url, process.stdout, process.stderr) : await watch(args);
}
