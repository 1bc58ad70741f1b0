import { z } from 'zod';

/**
 * One of a job's best deals, as results_updated (and job_completed) carry them in
 * `metadata.best_offers`: the five cheapest offers so far by party total.
 */
export const bestOfferSchema = z.object({
  route: z.string(),
  origin: z.string(),
  destination: z.string(),
  departure_date: z.string(),
  departure_time: z.string(),
  arrival_time: z.string().nullable(),
  return_date: z.string().nullable(),
  return_time: z.string().nullable(),
  return_arrival_time: z.string().nullable(),
  airline: z.string(),
  airline_code: z.string(),
  flight_number: z.string().nullable(),
  return_flight_number: z.string().nullable(),
  source: z.string(),
  /** What one traveller pays. */
  price_per_person: z.number(),
  /** What the whole party pays; the list is ordered by it. */
  total_price: z.number(),
  currency: z.string(),
  booking_url: z.string(),
});
export type BestOffer = z.infer<typeof bestOfferSchema>;

const bestOffersSchema = z.array(bestOfferSchema).max(50);

/** The best deals an event carries, or null when it carries none (or not in this shape). */
export function bestOffersOf(metadata: Record<string, unknown>): BestOffer[] | null {
  if (!('best_offers' in metadata)) return null;
  const parsed = bestOffersSchema.safeParse(metadata.best_offers);
  return parsed.success ? parsed.data : null;
}
