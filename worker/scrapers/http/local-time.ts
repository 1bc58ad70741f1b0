import { z } from 'zod';

/**
 * A local date and time as fare APIs write it ("2026-12-20T06:25:00", Kiwi adds ".000Z" though
 * the time is local to the airport): the wall clock is kept, never shifted by a time zone.
 */
export const localDateTime = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/, 'must be a local date-time YYYY-MM-DDTHH:MM…');

export function splitLocal(value: string): { date: string; time: string } {
  return { date: value.slice(0, 10), time: value.slice(11, 16) };
}

/** YYYY-MM-DD → dd/mm/YYYY (Kiwi's date format). */
export function dayMonthYear(isoDate: string): string {
  const [y, m, d] = isoDate.split('-');
  return `${d}/${m}/${y}`;
}
