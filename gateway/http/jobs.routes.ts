import { createJobRequestSchema, fieldErrors, isJsonContentType, jobIdFromPath, REQUEST_PARSE_OPTIONS, type CreateJobResponse, type JobParams, type JobStatusResponse } from '../../shared/api.js';
import { deleteJob, findJob, insertPendingJob } from '../../shared/db/jobs.repository.js';
import type { ScrapingJob } from '../../shared/db/scraping-jobs.table.js';
import { enqueueScrape } from '../../shared/queue.js';
import type { GatewayContext } from '../context.js';
import { queuedInfo, type QueuedInfo } from '../queued-job.js';
import type { TemplatedApp } from '../uws.js';
import { BodyTooLargeError, readBody, RequestAbortedError } from './read-body.js';
import { reply, sendError, sendJson, sendUnavailable, type Reply } from './responses.js';

/** POST /api/jobs and the seed's polling fallback GET /ws/scraping/{job_id}/status. */
export function registerJobRoutes(app: TemplatedApp, ctx: GatewayContext): void {
  app.post('/api/jobs', (res, req) => {
    const r = reply(res);
    const request = {
      contentType: req.getHeader('content-type'),
      contentLength: parseContentLength(req.getHeader('content-length')),
      host: req.getHeader('x-forwarded-host') || req.getHeader('host'),
      secure: req.getHeader('x-forwarded-proto') === 'https',
    };
    void createJob(ctx, r, request).catch((error: unknown) => sendUnavailable(ctx.log, r, error));
  });

  app.get('/ws/scraping/:job_id/status', (res, req) => {
    const r = reply(res);
    const id = jobIdFromPath(req.getParameter(0));
    if (id === null) {
      sendError(r, 400, 'BAD_JOB_ID', `job id must be a positive integer, got "${req.getParameter(0)}"`);
      return;
    }
    void jobStatus(ctx, r, id).catch((error: unknown) => sendUnavailable(ctx.log, r, error));
  });
}

interface CreateJobRequestMeta {
  contentType: string;
  contentLength: number | null;
  host: string;
  secure: boolean;
}

async function createJob(ctx: GatewayContext, r: Reply, request: CreateJobRequestMeta): Promise<void> {
  let raw: Buffer;
  try {
    raw = await readBody(r, ctx.config.gateway.maxBodyBytes, request.contentLength);
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      sendError(r, 413, 'BODY_TOO_LARGE', error.message, { closeConnection: true });
      return;
    }
    if (error instanceof RequestAbortedError) return;
    throw error;
  }
  if (!isJsonContentType(request.contentType)) {
    sendError(r, 415, 'UNSUPPORTED_MEDIA_TYPE', `send the job as JSON with Content-Type: application/json${request.contentType ? `, not ${request.contentType}` : ''}`);
    return;
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (error) {
    sendError(r, 400, 'INVALID_JSON', `request body is not valid JSON: ${(error as Error).message}`);
    return;
  }
  const parsed = createJobRequestSchema.safeParse(json, REQUEST_PARSE_OPTIONS);
  if (!parsed.success) {
    sendError(r, 400, 'VALIDATION_FAILED', 'the job request is invalid', { fields: fieldErrors(parsed.error) });
    return;
  }
  const params: JobParams = { ...parsed.data, scrapers: parsed.data.scrapers ?? ctx.config.worker.scrapers };

  const job = await insertPendingJob(ctx.db, params);
  try {
    await enqueueScrape(ctx.queue, job.id);
  } catch (error) {
    // Nothing half-made: a job that could not be queued does not stay behind as pending.
    await deleteJob(ctx.db, job.id);
    throw error;
  }
  ctx.log.info({ jobId: job.id, routes: params.origins.length * params.destinations.length }, 'job enqueued');
  const base = `${request.host || `localhost:${ctx.config.gateway.port}`}`;
  const body: CreateJobResponse = {
    job_id: job.id,
    status: job.status,
    ws_url: `${request.secure ? 'wss' : 'ws'}://${base}/ws/scraping/${job.id}`,
    status_url: `${request.secure ? 'https' : 'http'}://${base}/ws/scraping/${job.id}/status`,
  };
  sendJson(r, 202, body, { headers: { Location: `/ws/scraping/${job.id}/status` } });
}

async function jobStatus(ctx: GatewayContext, r: Reply, id: number): Promise<void> {
  const job = await findJob(ctx.db, id);
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

