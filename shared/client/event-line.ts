import type { ScrapingEvent } from '../events.js';

/**
 * One event as one line of the CLI: local time, seq, type, message, results so far.
 * `12:04:31  #17  scraper_completed  sim-kiwi found 4 flights for MUC→BCN (…)  results=42`
 * A snapshot is labelled `snapshot` (its seq is that of the last event it stands for).
 */
export function formatEventLine(event: ScrapingEvent, options: { snapshot?: boolean } = {}): string {
  const time = new Date(event.timestamp).toTimeString().slice(0, 8);
  const type = options.snapshot ? 'snapshot' : event.event_type;
  const message = (event.message ?? '').replace(/\s+/g, ' ').trim();
  return `${time}  #${event.seq}  ${type.padEnd(17)}  ${message}  results=${event.results_count}`;
}
