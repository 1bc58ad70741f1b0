import { z } from 'zod';

export const EVENT_TYPES = [
  'job_started',
  'job_progress',
  'job_completed',
  'job_failed',
  'scraper_started',
  'scraper_completed',
  'scraper_failed',
  'results_updated',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const JOB_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_EVENT_TYPES: ReadonlySet<EventType> = new Set(['job_completed', 'job_failed']);

/** Job ids are Postgres `serial`: positive 32-bit integers. */
export const MAX_JOB_ID = 2 ** 31 - 1;
export const jobIdSchema = z.number().int().positive().max(MAX_JOB_ID);

/**
 * One progress event, as every client receives it. Compatible with the original
 * SmartFamilyTravelScout clients; `seq` (per job, 1, 2, 3 … with no gaps within one epoch) and
 * `metadata.epoch` (changes whenever the job's stream is recreated) are this project's additions.
 */
export const scrapingEventSchema = z.object({
  job_id: jobIdSchema,
  seq: z.number().int().nonnegative(),
  event_type: z.enum(EVENT_TYPES),
  status: z.enum(JOB_STATUSES),
  progress: z.number().min(0).max(100).nullable(),
  results_count: z.number().int().nonnegative(),
  message: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  timestamp: z.iso.datetime({ offset: true, local: true }),
});
export type ScrapingEvent = z.infer<typeof scrapingEventSchema>;

/** What an emitter supplies; the emit script adds job_id, seq and metadata.epoch. */
export const eventDraftSchema = scrapingEventSchema.omit({ job_id: true, seq: true }).extend({
  timestamp: z.iso.datetime({ offset: true }),
});
export type EventDraft = z.infer<typeof eventDraftSchema>;
