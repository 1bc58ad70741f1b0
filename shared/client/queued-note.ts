import type { ScrapingEvent } from '../events.js';

/**
 * What to tell someone watching a job no worker has taken yet, from its snapshot's metadata
 * (`queued`, `queued_since`, `queue_position`, `queue_length`), as of `now`; null when the
 * snapshot is not of a queued job.
 */
export function queuedNote(snapshot: ScrapingEvent, now: number): string | null {
  const meta = snapshot.metadata;
  if (meta.queued !== true || snapshot.status !== 'pending' || typeof meta.queued_since !== 'string') return null;
  const since = Date.parse(meta.queued_since);
  if (Number.isNaN(since)) return null;
  const place =
    typeof meta.queue_position === 'number' && typeof meta.queue_length === 'number'
      ? `, position ${meta.queue_position} of ${meta.queue_length}`
      : '';
  return `job ${snapshot.job_id} is waiting in the queue (for ${formatWait(now - since)}${place}): no worker has taken it yet — is a worker running? (npm run start:worker)`;
}

function formatWait(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
