import type { Party } from './scraper.js';

export const travellers = (party: Party): number => party.adults + party.children;

const cents = (amount: number) => Math.round(amount * 100) / 100;

/**
 * Both prices of an offer from the one a source quotes. Airlines' fare APIs (Ryanair, WizzAir)
 * quote one passenger's fare, which children pay too on these airlines' base fares; Kiwi quotes
 * the whole party's price for the adults and children asked for.
 */
export function partyPrices(amount: number, basis: 'per_person' | 'party', party: Party): { price_per_person: number; total_price: number } {
  const n = Math.max(1, travellers(party));
  return basis === 'per_person'
    ? { price_per_person: cents(amount), total_price: cents(cents(amount) * n) }
    : { price_per_person: cents(amount / n), total_price: cents(amount) };
}
