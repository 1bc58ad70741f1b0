import { z } from 'zod';
import { jobIdSchema, JOB_STATUSES, MAX_JOB_ID } from './events.js';
import { SCRAPER_NAMES, SIM_SCRAPER_NAMES } from './scraper-names.js';
import { bestOfferSchema } from './best-offers.js';

const JOB_ID_PATH = /^\d{1,10}$/;

/**
 * A job id as it appears in a URL path — digits only, a positive 32-bit integer — or null. Plain
 * code rather than a zod parse: the gateway checks one on every WebSocket upgrade.
 */
export function jobIdFromPath(text: string): number | null {
  if (!JOB_ID_PATH.test(text)) return null;
  const id = Number(text);
  return id >= 1 && id <= MAX_JOB_ID ? id : null;
}

/** jobIdFromPath as a schema, for requests validated field by field. */
export const jobIdParamSchema = z
  .string()
  .refine((text) => jobIdFromPath(text) !== null, 'must be a positive integer')
  .transform(Number);

/** Bounds that keep one request from enqueueing an unbounded job. */
export const JOB_LIMITS = {
  maxAirportsPerSide: 10,
  maxDateRanges: 10,
  /** origins × destinations × date ranges × scrapers */
  maxTasks: 400,
  /** How far ahead a departure may be. */
  maxDaysAhead: 730,
} as const;

const isoDate = z.iso.date('must be a date as YYYY-MM-DD');

// ---- Request rules a first request meets: airport letters, a date window, JSON only, "required".

/** ASCII letters only, checked before upper-casing: Unicode case folding would turn "ıst" into "IST". */
const iataCode = z
  .string()
  .trim()
  .regex(/^[A-Za-z]{3}$/, 'must be a 3-letter IATA airport code, e.g. "MUC"')
  .transform((code) => code.toUpperCase());

const DAY_MS = 86_400_000;

/**
 * Today's date where it is earliest on Earth (UTC−12), so that nobody's "today" is refused as a
 * past date, and the last departure date the limit allows.
 */
export function departureWindow(now = Date.now()): { first: string; last: string } {
  const first = new Date(now - 12 * 3_600_000).toISOString().slice(0, 10);
  const last = new Date(Date.parse(first) + JOB_LIMITS.maxDaysAhead * DAY_MS + DAY_MS).toISOString().slice(0, 10);
  return { first, last };
}

/** A departure in the past or beyond the limit is refused, as is a return beyond it. */
function checkDateWindow([depart, back]: [string, string], ctx: z.RefinementCtx): void {
  const { first, last } = departureWindow();
  if (depart < first) ctx.addIssue({ code: 'custom', message: `departure date ${depart} is in the past (today is ${first})` });
  if (depart > last) ctx.addIssue({ code: 'custom', message: `departure date ${depart} is more than ${JOB_LIMITS.maxDaysAhead} days ahead (the last is ${last})` });
  else if (back > last) ctx.addIssue({ code: 'custom', message: `return date ${back} is more than ${JOB_LIMITS.maxDaysAhead} days ahead (the last is ${last})` });
}

/** `application/json`, with parameters (`; charset=utf-8`) but no other type that merely starts like it. */
export function isJsonContentType(header: string): boolean {
  return /^application\/json\s*(;|$)/i.test(header.trim());
}

/** Parse options of request bodies: a field that is missing reads "required", not a type mismatch. */
export const REQUEST_PARSE_OPTIONS = {
  error: (issue: { code?: string; input?: unknown }) => (issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined),
};

// ---- end of request rules

const uniqueList = <T extends z.ZodType<string>>(item: T, max: number, what: string) =>
  z
    .array(item)
    .min(1, `name at least one ${what}`)
    .max(max, `at most ${max} ${what}s`)
    .refine((xs) => new Set(xs).size === xs.length, `${what}s must not repeat`);

const dateRange = z
  .tuple([isoDate, isoDate], { error: 'must be [departure, return] dates' })
  .refine(([depart, back]) => back >= depart, 'return date must not be before the departure date')
  .superRefine(checkDateWindow);

// --- Who travels and the currency of the prices (optional; a family of four, in EUR, by default).
export const PARTY_DEFAULTS = { adults: 2, children: 2, currency: 'EUR' } as const;
const partyFields = {
  adults: z.number().int('must be a whole number').min(1, 'at least one adult travels').max(9, 'at most 9 adults').optional(),
  children: z.number().int('must be a whole number').min(0, 'must not be negative').max(8, 'at most 8 children').optional(),
  currency: z
    .string()
    .trim()
    .toUpperCase()
    .regex(/^[A-Z]{3}$/, 'must be a 3-letter ISO 4217 currency code, e.g. "EUR"')
    .optional(),
};
const storedPartyFields = {
  adults: z.number().int().min(1).default(PARTY_DEFAULTS.adults),
  children: z.number().int().min(0).default(PARTY_DEFAULTS.children),
  currency: z.string().length(3).default(PARTY_DEFAULTS.currency),
};
// --- end of party fields

/** POST /api/jobs body. */
export const createJobRequestSchema = z
  .strictObject({
    ...partyFields,
    origins: uniqueList(iataCode, JOB_LIMITS.maxAirportsPerSide, 'origin'),
    destinations: uniqueList(iataCode, JOB_LIMITS.maxAirportsPerSide, 'destination'),
    date_ranges: z
      .array(dateRange)
      .min(1, 'name at least one date range')
      .max(JOB_LIMITS.maxDateRanges, `at most ${JOB_LIMITS.maxDateRanges} date ranges`),
    scrapers: uniqueList(z.enum(SCRAPER_NAMES, { error: `must be one of ${SCRAPER_NAMES.join(', ')}` }), SCRAPER_NAMES.length, 'scraper').optional(),
  })
  .superRefine((body, ctx) => {
    const routes = body.origins.length * body.destinations.length;
    // Without scrapers the job gets the SCRAPERS setting, by default the four simulated sources.
    const scrapers = body.scrapers?.length ?? SIM_SCRAPER_NAMES.length;
    const tasks = routes * body.date_ranges.length * scrapers;
    if (tasks > JOB_LIMITS.maxTasks) {
      ctx.addIssue({
        code: 'custom',
        path: ['origins'],
        message: `too many searches: ${routes} routes × ${body.date_ranges.length} date ranges × ${scrapers} scrapers is ${tasks} tasks, at most ${JOB_LIMITS.maxTasks}`,
      });
    }
    for (const origin of body.origins) {
      if (body.destinations.includes(origin)) {
        ctx.addIssue({ code: 'custom', path: ['destinations'], message: `${origin} is both an origin and a destination` });
      }
    }
  });
export type CreateJobRequest = z.infer<typeof createJobRequestSchema>;

/**
 * A job's parameters as stored with it and handed to the orchestrator (scrapers resolved). Jobs
 * stored before parties existed read as the default family in EUR.
 */
export const jobParamsSchema = z.object({
  origins: z.array(z.string().length(3)).min(1),
  destinations: z.array(z.string().length(3)).min(1),
  date_ranges: z.array(z.tuple([isoDate, isoDate])).min(1),
  scrapers: z.array(z.enum(SCRAPER_NAMES)).min(1),
  ...storedPartyFields,
});
export type JobParams = z.output<typeof jobParamsSchema>;
/** What may be stored as a job's parameters (the party fields have defaults). */
export type JobParamsInput = z.input<typeof jobParamsSchema>;

export const createJobResponseSchema = z.object({
  job_id: jobIdSchema,
  status: z.enum(JOB_STATUSES),
  ws_url: z.string(),
  status_url: z.string(),
  // --- Access control ---
  /** Lets its bearer watch this job (WS and status, as ?token=…); absent while auth is off. */
  watch_token: z.string().optional(),
  watch_token_expires_at: z.string().optional(),
});
export type CreateJobResponse = z.infer<typeof createJobResponseSchema>;

/** POST /api/jobs/{job_id}/watch-tokens: a fresh token for the job's owner. */
export const watchTokenResponseSchema = z.object({
  job_id: jobIdSchema,
  watch_token: z.string(),
  watch_token_expires_at: z.string(),
  ws_url: z.string(),
  status_url: z.string(),
});
export type WatchTokenResponse = z.infer<typeof watchTokenResponseSchema>;

/** The Idempotency-Key header of POST /api/jobs: visible ASCII, 1-200 characters. */
export const IDEMPOTENCY_KEY_PATTERN = /^[!-~]{1,200}$/;

/** GET /ws/scraping/{job_id}/status: the seed's polling fallback, plus progress and seq. */
export const jobStatusResponseSchema = z.object({
  job_id: jobIdSchema,
  job_type: z.string(),
  source: z.string(),
  status: z.enum(JOB_STATUSES),
  items_scraped: z.number().int().nonnegative(),
  error_message: z.string().nullable(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  duration_seconds: z.number().nullable(),
  is_running: z.boolean(),
  is_completed: z.boolean(),
  is_failed: z.boolean(),
  progress: z.number(),
  last_seq: z.number().int().nonnegative(),
  // A job no worker has taken yet (status pending): since when, for how long, where in the queue; null otherwise.
  queued_since: z.string().nullable(),
  queued_seconds: z.number().nullable(),
  queue_position: z.number().int().positive().nullable(),
  queue_length: z.number().int().positive().nullable(),
});
export type JobStatusResponse = z.infer<typeof jobStatusResponseSchema>;

// --- GET /api/jobs/{job_id}/flights: a job's offers, cheapest party total first, page by page.
export const FLIGHTS_PAGE_LIMIT = { default: 50, max: 200 } as const;
export const flightsQuerySchema = z.strictObject({
  sort: z.enum(['price'], { error: 'the only order is "price" (party total, cheapest first)' }).default('price'),
  limit: z.coerce
    .number('must be a number')
    .int('must be a whole number')
    .min(1, 'at least 1')
    .max(FLIGHTS_PAGE_LIMIT.max, `at most ${FLIGHTS_PAGE_LIMIT.max}`)
    .default(FLIGHTS_PAGE_LIMIT.default),
  /** next_cursor of the previous page, as given. */
  cursor: z.string().max(200).optional(),
});
/** One offer of GET /api/jobs/{id}/flights: a best deal's fields, and the offer, party and time seen. */
export const flightOfferSchema = bestOfferSchema.extend({
  offer_id: z.string(),
  adults: z.number().int(),
  children: z.number().int(),
  seen_at: z.string(),
});
export const flightsPageSchema = z.object({
  job_id: jobIdSchema,
  sort: z.literal('price'),
  items: z.array(flightOfferSchema),
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: z.string().nullable(),
});
export type FlightOffer = z.infer<typeof flightOfferSchema>;
export type FlightsPage = z.infer<typeof flightsPageSchema>;
// --- end of flights endpoint

/** Every 4xx/5xx body: a stable code, a sentence, and per-field problems where there are some. */
export const errorResponseSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    fields: z.record(z.string(), z.array(z.string())).optional(),
  }),
});
export type ErrorResponse = z.infer<typeof errorResponseSchema>;

/** Field path → messages, e.g. { "date_ranges.0": ["return date must not be before the departure date"] }. */
export function fieldErrors(error: z.ZodError): Record<string, string[]> {
  const fields: Record<string, string[]> = {};
  for (const issue of error.issues) {
    const key = issue.path.length ? issue.path.join('.') : '(body)';
    (fields[key] ??= []).push(issue.message);
  }
  return fields;
}
