import { IDEMPOTENCY_KEY_PATTERN, jobIdFromPath, type JobStatusResponse, type WatchTokenResponse } from '../../shared/api.js';
import { findJob } from '../../shared/db/jobs.repository.js';
import type { ScrapingJob } from '../../shared/db/scraping-jobs.table.js';
import { credentialsOf, type Credentials } from '../auth/credentials.js';
import { authorizeJobRead } from '../auth/job-access.js';
import type { GatewayContext } from '../context.js';
import { queuedInfo, type QueuedInfo } from '../queued-job.js';
import type { TemplatedApp } from '../uws.js';
import { createJob, type CreateJobRequest } from './create-job.js';
import { publicBase } from './public-url.js';
import { ambiguousFraming, readBody } from './read-body.js';
import { immediate, reply, sendError, sendJson, sendUnavailable, type Reply } from './responses.js';
import { watchUrls } from './watch-urls.js';

/** POST /api/jobs, POST /api/jobs/{id}/watch-tokens and the seed's polling fallback GET /ws/scraping/{job_id}/status. */
export function registerJobRoutes(app: TemplatedApp, ctx: GatewayContext): void {
  app.post('/api/jobs', (res, req) => {
    if (ambiguousFraming(req)) {
      sendError(immediate(res), 400, 'AMBIGUOUS_FRAMING', 'the request has conflicting Content-Length / Transfer-Encoding headers', { closeConnection: true });
      return;
    }
    const idempotencyKey = req.getHeader('idempotency-key');
    if (idempotencyKey !== '' && !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) {
      sendError(immediate(res), 400, 'BAD_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1-200 visible ASCII characters', { closeConnection: true });
      return;
    }
    const r = reply(res);
    const body = readBody(r, ctx.config.gateway.maxBodyBytes, parseContentLength(req.getHeader('content-length')));
    body.catch(() => undefined); // handled where it is awaited; a 401 may never await it
    const request: CreateJobRequest = {
      contentType: req.getHeader('content-type'),
      body,
      base: publicBase(ctx.config, ctx.clientIp, res, req),
      credentials: credentialsOf(req),
      idempotencyKey: idempotencyKey || null,
      ip: ctx.clientIp.of(res, req),
    };
    void createJob(ctx, r, request).catch((error: unknown) => sendUnavailable(ctx.log, r, error));
  });

  app.post('/api/jobs/:job_id/watch-tokens', (res, req) => {
    const id = jobIdFromPath(req.getParameter(0));
    if (id === null) {
      sendError(immediate(res), 400, 'BAD_JOB_ID', 'job id must be a positive integer', { closeConnection: true });
      return;
    }
    const credentials = credentialsOf(req);
    const base = publicBase(ctx.config, ctx.clientIp, res, req);
    const r = reply(res);
    // A body, if any, is not read: the connection closes after the answer.
    void mintWatchToken(ctx, r, id, credentials, base).catch((error: unknown) => sendUnavailable(ctx.log, r, error));
  });

  app.get('/ws/scraping/:job_id/status', (res, req) => {
    const id = jobIdFromPath(req.getParameter(0));
    if (id === null) {
      sendError(immediate(res), 400, 'BAD_JOB_ID', `job id must be a positive integer, got "${req.getParameter(0)}"`);
      return;
    }
    const credentials = credentialsOf(req);
    const r = reply(res);
    void jobStatus(ctx, r, id, credentials).catch((error: unknown) => sendUnavailable(ctx.log, r, error));
  });
}

async function mintWatchToken(ctx: GatewayContext, r: Reply, id: number, credentials: Credentials, base: { http: string; ws: string }): Promise<void> {
  const writer = await ctx.auth.authenticateWriter(credentials);
  if (!writer.ok) {
    sendError(r, 401, 'UNAUTHORIZED', writer.message, { closeConnection: true });
    return;
  }
  if (!ctx.auth.tokens) {
    sendError(r, 404, 'NOT_FOUND', 'watch tokens are off on this gateway (AUTH_ENABLED=false, no WATCH_TOKEN_SECRET)', { closeConnection: true });
    return;
  }
  if (writer.ownerKeyId > 0 && !(await ctx.auth.ownsJob(writer.ownerKeyId, id))) {
    sendError(r, 404, 'JOB_NOT_FOUND', `Job ${id} not found`, { closeConnection: true });
    return;
  }
  const urls = await watchUrls(ctx, base, id, writer.ownerKeyId);
  const body: WatchTokenResponse = {
    job_id: id,
    watch_token: urls.watch_token!,
    watch_token_expires_at: urls.watch_token_expires_at!,
    ws_url: urls.ws_url,
    status_url: urls.status_url,
  };
  sendJson(r, 201, body, { closeConnection: true });
}

async function jobStatus(ctx: GatewayContext, r: Reply, id: number, credentials: Credentials): Promise<void> {
  const access = await authorizeJobRead(ctx, credentials, id);
  if (!access.ok && access.kind === 'unauthorized') {
    sendError(r, 401, 'UNAUTHORIZED', access.message);
    return;
  }
  const job = access.ok ? await findJob(ctx.db, id) : undefined;
  if (!job) {
    sendError(r, 404, 'JOB_NOT_FOUND', `Job ${id} not found`);
    return;
  }
  sendJson(r, 200, toStatusResponse(job, await queuedInfo(ctx, job)));
}

function toStatusResponse(job: ScrapingJob, queued: QueuedInfo | null): JobStatusResponse {
  const end = job.completed_at ?? (job.status === 'running' ? new Date() : null);
  return {
    queued_since: queued?.queued_since ?? null,
    queued_seconds: queued ? Math.round((Date.now() - job.created_at.getTime()) / 1000) : null,
    queue_position: queued?.queue_position ?? null,
    queue_length: queued?.queue_length ?? null,
    job_id: job.id,
    job_type: job.job_type,
    source: job.source,
    status: job.status,
    items_scraped: job.items_scraped,
    error_message: job.error_message,
    started_at: job.started_at?.toISOString() ?? null,
    completed_at: job.completed_at?.toISOString() ?? null,
    duration_seconds: job.started_at && end ? (end.getTime() - job.started_at.getTime()) / 1000 : null,
    is_running: job.status === 'running',
    is_completed: job.status === 'completed',
    is_failed: job.status === 'failed',
    progress: job.progress,
    last_seq: job.last_seq,
  };
}

function parseContentLength(header: string): number | null {
  return /^\d+$/.test(header) ? Number(header) : null;
}

