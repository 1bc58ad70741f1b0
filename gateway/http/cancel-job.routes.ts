import { jobIdFromPath } from '../../shared/api.js';
import { findJob, markJobCancelled } from '../../shared/db/jobs.repository.js';
import { cancelledEventDraft, JOB_CANCELLED_MESSAGE, type CancelNotice } from '../../shared/job-cancellation.js';
import { bullmqJobId } from '../../shared/queue.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { credentialsOf, type Credentials } from '../auth/credentials.js';
import type { GatewayContext } from '../context.js';
import type { TemplatedApp } from '../uws.js';
import { immediate, reply, sendError, sendJson, sendUnavailable, type Reply } from './responses.js';

/** 200 answer of POST /api/jobs/{id}/cancel. */
export interface CancelJobResponse {
  job_id: number;
  status: 'cancelled';
  /** What the job was doing when it was cancelled: taken off the queue, or stopped on its worker. */
  was: 'pending' | 'running';
}

/** POST /api/jobs/{id}/cancel: the job's owner ends a pending or running job. */
export function registerCancelJobRoute(app: TemplatedApp, ctx: GatewayContext): void {
  app.post('/api/jobs/:job_id/cancel', (res, req) => {
    const id = jobIdFromPath(req.getParameter(0));
    if (id === null) {
      sendError(immediate(res), 400, 'BAD_JOB_ID', `job id must be a positive integer, got "${req.getParameter(0)}"`, { closeConnection: true });
      return;
    }
    const credentials = credentialsOf(req);
    const r = reply(res);
    // A body, if any, is not read: the connection closes after the answer.
    void cancelJob(ctx, r, id, credentials).catch((error: unknown) => sendUnavailable(ctx.log, r, error));
  });
}

/**
 * Order matters. The row is ended first, in one conditional write (of two cancels, or a cancel
 * and the job's own end, exactly one wins; the loser changes nothing and gets 409). Then the
 * queue entry: removed if no worker holds it (BullMQ refuses to remove a locked job), and then no
 * worker ever will, so the gateway emits the one terminal event itself. A job a worker holds is
 * told to stop over the cancel channel; that worker, the only writer of the job's stream, emits
 * the terminal event after its own last one (and if the notice is missed, its conditional
 * writes find the row cancelled and it ends the stream the same way).
 */
async function cancelJob(ctx: GatewayContext, r: Reply, id: number, credentials: Credentials): Promise<void> {
  const writer = await ctx.auth.authenticateWriter(credentials);
  if (!writer.ok) {
    sendError(r, 401, 'UNAUTHORIZED', writer.message, { closeConnection: true });
    return;
  }
  if (writer.ownerKeyId > 0 && !(await ctx.auth.ownsJob(writer.ownerKeyId, id))) {
    sendError(r, 404, 'JOB_NOT_FOUND', `Job ${id} not found`, { closeConnection: true });
    return;
  }
  const before = await findJob(ctx.db, id);
  if (!before) {
    sendError(r, 404, 'JOB_NOT_FOUND', `Job ${id} not found`, { closeConnection: true });
    return;
  }
  const cancelled = await markJobCancelled(ctx.db, id, JOB_CANCELLED_MESSAGE);
  if (!cancelled) {
    const now = (await findJob(ctx.db, id)) ?? before;
    sendError(r, 409, 'JOB_ALREADY_FINISHED', `Job ${id} is already ${now.status}; nothing was changed`, { closeConnection: true });
    return;
  }
  let removed = false;
  try {
    removed = (await ctx.queue.remove(bullmqJobId(id))) === 1;
    if (removed) await ctx.eventLog.append(id, cancelledEventDraft(before.progress, before.items_scraped), cancelled.last_seq, cancelled.identity);
    // Also after a removal when the job was running: a worker whose lock lapsed (a blocked event
    // loop) may still be at it; it stops, and finds the stream already ended as cancelled.
    if (!removed || before.status === 'running') {
      const notice: CancelNotice = { jobId: id };
      await ctx.redis.publish(new RedisKeys(ctx.config.keyPrefix).cancelChannel, JSON.stringify(notice));
    }
  } catch (error) {
    // The cancel is decided (the row is the truth); Redis failing here only delays the stream's
    // end: the worker that takes or holds the job finds the row cancelled and ends the stream.
    // A 503 would make the client retry into a 409 for a cancel that worked.
    ctx.log.warn({ jobId: id, err: error }, 'job cancelled, but Redis failed the queue removal or the notice; its worker will end the stream');
  }
  ctx.log.info({ jobId: id, was: before.status, removedFromQueue: removed }, 'job cancelled');
  const body: CancelJobResponse = { job_id: id, status: 'cancelled', was: before.status === 'running' ? 'running' : 'pending' };
  sendJson(r, 200, body, { closeConnection: true });
}
