import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

export interface FlightsTable {
  id: Generated<string>;
  origin: string;
  destination: string;
  airline: string;
  outbound_flight_number: string;
  return_flight_number: string | null;
  /** Dates as 'YYYY-MM-DD' and times as 'HH:MM' (local to the airport): what fare sources give. */
  departure_date: ColumnType<string, string, string>;
  departure_time: string;
  return_date: ColumnType<string | null, string | null, string | null>;
  return_time: string | null;
  /** numeric(10,2): pg returns it as a string so no precision is lost. */
  price: ColumnType<string, number | string, number | string>;
  currency: string;
  source: string;
  booking_url: string;
  scraping_job_id: number;
  scraped_at: ColumnType<Date, Date | undefined, Date>;
}

export type Flight = Selectable<FlightsTable>;
export type NewFlight = Insertable<FlightsTable>;
