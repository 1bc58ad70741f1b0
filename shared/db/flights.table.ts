import type { ColumnType, Selectable } from 'kysely';

/**
 * The `flights` view (migration 0003): every job's offers with the columns the flights table had
 * (price is per person). Read-only; offers and job_offers are where offers are written.
 */
export interface FlightsView {
  id: ColumnType<string, never, never>;
  origin: ColumnType<string, never, never>;
  destination: ColumnType<string, never, never>;
  airline: ColumnType<string, never, never>;
  airline_code: ColumnType<string, never, never>;
  outbound_flight_number: ColumnType<string | null, never, never>;
  return_flight_number: ColumnType<string | null, never, never>;
  departure_date: ColumnType<string, never, never>;
  departure_time: ColumnType<string, never, never>;
  arrival_time: ColumnType<string | null, never, never>;
  return_date: ColumnType<string | null, never, never>;
  return_time: ColumnType<string | null, never, never>;
  return_arrival_time: ColumnType<string | null, never, never>;
  price: ColumnType<string, never, never>;
  total_price: ColumnType<string, never, never>;
  currency: ColumnType<string, never, never>;
  source: ColumnType<string, never, never>;
  booking_url: ColumnType<string, never, never>;
  scraping_job_id: ColumnType<number, never, never>;
  scraped_at: ColumnType<Date, never, never>;
}

export type Flight = Selectable<FlightsView>;
