import { createHash } from 'node:crypto';
import { createJobRequestSchema, fieldErrors, isJsonContentType, PARTY_DEFAULTS, REQUEST_PARSE_OPTIONS, type CreateJobResponse, type JobParams } from '../../shared/api.js';
import { deleteJob } from '../../shared/db/jobs.repository.js';
import { admitJob } from '../../shared/db/job-admission.repository.js';
import { enqueueScrape } from '../../shared/queue.js';
import { sourceUnavailable } from '../../shared/sources-config.js';
import type { Credentials } from '../auth/credentials.js';
import type { GatewayContext } from '../context.js';
import { BodyTooLargeError, RequestAbortedError } from './read-body.js';
import { sendError, sendJson, type Reply } from './responses.js';
import { watchUrls } from './watch-urls.js';

/** What POST /api/jobs copied out of the uWS request before its first await. */
export interface CreateJobRequest {
  contentType: string;
  /** The body, being read since the handler ran: uWS hands body chunks only to a handler attached at once. */
  body: Promise<Buffer>;
  base: { http: string; ws: string };
  credentials: Credentials;
  idempotencyKey: string | null;
  ip: string;
}

/**
 * POST /api/jobs: key → body → validation → rate limit → one transaction (active-jobs limit,
 * Idempotency-Key, insert) → queue. Nothing is written for a refused request, nor for one whose
 * client went away before the write (it cannot learn the outcome; its retry would duplicate).
 */
export async function createJob(ctx: GatewayContext, r: Reply, request: CreateJobRequest): Promise<void> {
  const writer = await ctx.auth.authenticateWriter(request.credentials);
  if (!writer.ok) {
    // The body is not read: the connection closes rather than wait for bytes nobody will use.
    sendError(r, 401, 'UNAUTHORIZED', writer.message, { closeConnection: true });
    return;
  }
  let raw: Buffer;
  try {
    raw = await request.body;
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
  const params: JobParams = { ...PARTY_DEFAULTS, ...parsed.data, scrapers: parsed.data.scrapers ?? ctx.config.worker.scrapers };
  // A source this deployment cannot search (kiwi without its key) is refused now, not failed later.
  const unavailable = params.scrapers.flatMap((name, i) => {
    const why = sourceUnavailable(name, ctx.config.sources);
    return why ? [[`scrapers.${i}`, [why]] as [string, string[]]] : [];
  });
  if (unavailable.length) {
    sendError(r, 400, 'VALIDATION_FAILED', 'the job request is invalid', { fields: Object.fromEntries(unavailable) });
    return;
  }

  const holder = writer.ownerKeyId > 0 ? `key:${writer.ownerKeyId}` : `ip:${request.ip}`;
  const rate = await ctx.limits.consumeJob(holder);
  if (!rate.ok) {
    sendError(r, 429, 'RATE_LIMITED', rate.message, { headers: { 'Retry-After': String(rate.retryAfterSeconds) } });
    return;
  }
  if (r.aborted) return; // the client is gone: it would never see the job it created
  const result = await admitJob(ctx.db, {
    params,
    ownerKeyId: writer.ownerKeyId > 0 ? writer.ownerKeyId : null,
    idempotency: request.idempotencyKey ? { key: request.idempotencyKey, bodyHash: createHash('sha256').update(raw).digest('hex') } : null,
    maxActive: ctx.config.auth.enabled ? ctx.config.limits.maxActiveJobsPerKey : null,
  });
  if (result.kind === 'key-reused') {
    sendError(r, 422, 'IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different request body in the last 24 hours');
    return;
  }
  if (result.kind === 'too-many-active') {
    const message = `${result.active} jobs of this key are pending or running; at most ${ctx.config.limits.maxActiveJobsPerKey}`;
    sendError(r, 429, 'RATE_LIMITED', message, { headers: { 'Retry-After': '10' } });
    return;
  }
  const job = result.job;
  if (result.kind === 'created') {
    try {
      await enqueueScrape(ctx.queue, job.id, job.identity);
    } catch (error) {
      // Nothing half-made: a job that could not be queued does not stay behind as pending.
      await deleteJob(ctx.db, job.id);
      throw error;
    }
    ctx.missingJobs.forget(job.id);
    ctx.log.info({ jobId: job.id, routes: params.origins.length * params.destinations.length, ownerKeyId: writer.ownerKeyId }, 'job enqueued');
  }
  const body: CreateJobResponse = { job_id: job.id, status: job.status, ...(await watchUrls(ctx, request.base, job.id, writer.ownerKeyId)) };
  const headers: Record<string, string> = { Location: `/ws/scraping/${job.id}/status` };
  if (result.kind === 'replayed') headers['Idempotent-Replayed'] = 'true';
  sendJson(r, 202, body, { headers });
}
