import type { ColumnType, Insertable, Selectable } from 'kysely';

/**
 * What one job saw of one offer: the price for its party, in its currency. The rows of one offer
 * across jobs are its price history; a job's rows are its results, which no other job changes.
 */
export interface JobOffersTable {
  job_id: number;
  offer_id: ColumnType<string, string | bigint, never>;
  /** numeric: pg returns it as a string so no precision is lost. What one traveller pays. */
  price_per_person: ColumnType<string, number | string, number | string>;
  /** What the job's whole party (adults + children) pays; results are ranked by it. */
  total_price: ColumnType<string, number | string, number | string>;
  /** The job's currency; never converted. */
  currency: string;
  adults: number;
  children: number;
  /** Where this party books the offer. */
  booking_url: string;
  seen_at: ColumnType<Date, Date | undefined, Date>;
}

export type JobOffer = Selectable<JobOffersTable>;
export type NewJobOffer = Insertable<JobOffersTable>;
