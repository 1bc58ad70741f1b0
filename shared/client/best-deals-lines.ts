import type { BestOffer } from '../best-offers.js';

const money = (amount: number, currency: string) => `${amount.toFixed(2)} ${currency}`;

/**
 * A job's best deals as the CLI prints them at the end, one line each:
 * `1. 199.92 EUR (49.98 EUR pp)  VIE→STN  2027-03-01 12:30 / 2027-03-08 06:00  W6  wizzair  https://…`
 */
export function formatBestDeals(offers: readonly BestOffer[]): string[] {
  if (offers.length === 0) return ['Best deals: none found'];
  return [
    `Best ${offers.length} deals (party total, cheapest first):`,
    ...offers.map((o, i) => {
      const out = `${o.departure_date} ${o.departure_time}${o.arrival_time ? `–${o.arrival_time}` : ''}`;
      const back = o.return_date ? ` / ${o.return_date} ${o.return_time ?? ''}${o.return_arrival_time ? `–${o.return_arrival_time}` : ''}` : '';
      const flight = o.flight_number ?? o.airline_code;
      return `${i + 1}. ${money(o.total_price, o.currency)} (${money(o.price_per_person, o.currency)} pp)  ${o.route}  ${out}${back}  ${flight}  ${o.source}  ${o.booking_url}`;
    }),
  ];
}
