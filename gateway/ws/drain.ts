import { setTimeout as sleep } from 'node:timers/promises';

/** Time between two batches of closes. */
const BATCH_INTERVAL_MS = 50;
/** Fewer clients than this go in one batch: a small gateway drains at once. */
const MIN_BATCH = 100;

/**
 * Closes a draining gateway's clients in batches spread over `spreadMs`, so that the gateways
 * left see a ramp of reconnects instead of a wall (the SDK's jittered backoff then spreads them a
 * little more). Every client still gets its events until its turn comes, so nothing is missed;
 * each resumes elsewhere from its last seq.
 */
export async function closeGradually(sockets: readonly { readonly closed: boolean; close(code: number, reason: string): void }[], spreadMs: number, code: number, reason: string): Promise<void> {
  const batches = Math.max(1, Math.floor(spreadMs / BATCH_INTERVAL_MS));
  const batchSize = Math.max(MIN_BATCH, Math.ceil(sockets.length / batches));
  for (let start = 0; start < sockets.length; start += batchSize) {
    if (start > 0) await sleep(BATCH_INTERVAL_MS);
    for (const socket of sockets.slice(start, start + batchSize)) if (!socket.closed) socket.close(code, reason);
  }
}
