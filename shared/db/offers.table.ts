import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** One offer, whoever found it: a source's price for these flights on these dates (migration 0003). */
export interface OffersTable {
  /** bigserial: pg returns it as a string. */
  id: Generated<string>;
  source: string;
  origin: string;
  destination: string;
  airline: string;
  /** IATA airline designator (FR, W6, …). */
  airline_code: string;
  /** Null when the source gives none (WizzAir's timetable). */
  outbound_flight_number: string | null;
  return_flight_number: string | null;
  /** Dates as 'YYYY-MM-DD' and times as 'HH:MM', local to the airport: what fare sources give. */
  departure_date: ColumnType<string, string, string>;
  departure_time: string;
  arrival_time: string | null;
  return_date: ColumnType<string | null, string | null, string | null>;
  return_time: string | null;
  return_arrival_time: string | null;
  first_seen_at: ColumnType<Date, Date | undefined, Date>;
  last_seen_at: ColumnType<Date, Date | undefined, Date>;
}

export type Offer = Selectable<OffersTable>;
export type NewOffer = Insertable<OffersTable>;
