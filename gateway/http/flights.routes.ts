import { z } from 'zod';
import { fieldErrors, flightsQuerySchema, jobIdFromPath, type FlightOffer, type FlightsPage } from '../../shared/api.js';
import { findJob } from '../../shared/db/jobs.repository.js';
import { pageJobOffers, type JobOfferRow, type OfferCursor } from '../../shared/db/offers.repository.js';
import type { ScrapingJob } from '../../shared/db/scraping-jobs.table.js';
import { credentialsOf, type Credentials } from '../auth/credentials.js';
import { authorizeJobRead } from '../auth/job-access.js';
import type { GatewayContext } from '../context.js';
import type { TemplatedApp } from '../uws.js';
import { reply, sendError, sendJson, sendUnavailable, type Reply } from './responses.js';

/** What the route copies out of uWS's request before any await (uWS forbids reading it later). */
interface FlightsRequest {
  jobIdText: string;
  query: string;
  /** For the job's access rules. */
  credentials: Credentials;
}

/** GET /api/jobs/{job_id}/flights?sort=price&limit=50&cursor=…: every offer the job found, cheapest party total first. */
export function registerFlightRoutes(app: TemplatedApp, ctx: GatewayContext): void {
  app.get('/api/jobs/:job_id/flights', (res, req) => {
    const r = reply(res);
    const request: FlightsRequest = {
      jobIdText: req.getParameter(0) ?? '',
      query: req.getQuery() ?? '',
      credentials: credentialsOf(req),
    };
    void listFlights(ctx, r, request).catch((error: unknown) => sendUnavailable(ctx.log, r, error));
  });
}

/**
 * The job whose flights are asked for, under the same rules as its status (authorizeJobRead):
 * 'unauthorized' without valid credentials, null when there is no such job or it may not be seen.
 */
async function resolveJob(ctx: GatewayContext, request: FlightsRequest, jobId: number): Promise<ScrapingJob | null | { unauthorized: string }> {
  const access = await authorizeJobRead(ctx, request.credentials, jobId);
  if (!access.ok) return access.kind === 'unauthorized' ? { unauthorized: access.message } : null;
  return (await findJob(ctx.db, jobId)) ?? null;
}

async function listFlights(ctx: GatewayContext, r: Reply, request: FlightsRequest): Promise<void> {
  const jobId = jobIdFromPath(request.jobIdText);
  if (jobId === null) {
    sendError(r, 400, 'BAD_JOB_ID', `job id must be a positive integer, got "${request.jobIdText}"`);
    return;
  }
  const query = flightsQuerySchema.safeParse(Object.fromEntries(new URLSearchParams(request.query)));
  if (!query.success) {
    sendError(r, 400, 'VALIDATION_FAILED', 'the query is invalid', { fields: fieldErrors(query.error) });
    return;
  }
  const after = query.data.cursor === undefined ? null : decodeCursor(query.data.cursor);
  if (after === undefined) {
    sendError(r, 400, 'VALIDATION_FAILED', 'the query is invalid', { fields: { cursor: ['not a cursor this endpoint gave out'] } });
    return;
  }
  const job = await resolveJob(ctx, request, jobId);
  if (job && 'unauthorized' in job) {
    sendError(r, 401, 'UNAUTHORIZED', job.unauthorized);
    return;
  }
  if (!job) {
    sendError(r, 404, 'JOB_NOT_FOUND', `Job ${jobId} not found`);
    return;
  }
  // One row more than the page tells whether another page follows, without a count.
  const rows = await pageJobOffers(ctx.db, jobId, { limit: query.data.limit + 1, after });
  const page = rows.slice(0, query.data.limit);
  const last = page.at(-1);
  const body: FlightsPage = {
    job_id: jobId,
    sort: query.data.sort,
    items: page.map(toFlightOffer),
    next_cursor: rows.length > page.length && last ? encodeCursor({ total: last.total_price, offerId: last.offer_id }) : null,
  };
  sendJson(r, 200, body);
}

function toFlightOffer(row: JobOfferRow): FlightOffer {
  return {
    offer_id: row.offer_id,
    route: `${row.origin}→${row.destination}`,
    origin: row.origin,
    destination: row.destination,
    airline: row.airline,
    airline_code: row.airline_code,
    flight_number: row.outbound_flight_number,
    return_flight_number: row.return_flight_number,
    departure_date: row.departure_date,
    departure_time: row.departure_time,
    arrival_time: row.arrival_time,
    return_date: row.return_date,
    return_time: row.return_time,
    return_arrival_time: row.return_arrival_time,
    source: row.source,
    price_per_person: Number(row.price_per_person),
    total_price: Number(row.total_price),
    currency: row.currency,
    adults: row.adults,
    children: row.children,
    booking_url: row.booking_url,
    seen_at: row.seen_at.toISOString(),
  };
}

/** The cursor is the last row's sort key, opaque to clients: base64url of [total, offer id]. */
const cursorSchema = z.tuple([z.string().regex(/^\d{1,10}(\.\d{1,2})?$/), z.string().regex(/^\d{1,19}$/)]);

function encodeCursor(cursor: OfferCursor): string {
  return Buffer.from(JSON.stringify([cursor.total, cursor.offerId])).toString('base64url');
}

/** The cursor, or undefined when it is not one this endpoint gave out. */
function decodeCursor(text: string): OfferCursor | undefined {
  try {
    const parsed = cursorSchema.safeParse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
    return parsed.success ? { total: parsed.data[0], offerId: parsed.data[1] } : undefined;
  } catch {
    return undefined; // not base64url JSON: refused like any other foreign cursor
  }
}
