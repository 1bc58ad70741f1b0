import { describe, expect, it } from 'vitest';
import { retryAfterMs } from '../../worker/scrapers/http/retry-after.js';
import { partyPrices } from '../../worker/scrapers/party-price.js';

describe('partyPrices', () => {
  it('derives the party total from a fare per person, and the fare per person from a party price', () => {
    expect(partyPrices(85.49, 'per_person', { adults: 2, children: 2 })).toEqual({ price_per_person: 85.49, total_price: 341.96 });
    expect(partyPrices(298.4, 'party', { adults: 2, children: 1 })).toEqual({ price_per_person: 99.47, total_price: 298.4 });
    // The total is the rounded fare times the travellers: what a person is shown adds up.
    expect(partyPrices(10.005, 'per_person', { adults: 1, children: 2 })).toEqual({ price_per_person: 10.01, total_price: 30.03 });
  });
});

describe('retryAfterMs', () => {
  it('reads delay-seconds and HTTP dates, and nothing else', () => {
    const now = Date.parse('2026-11-29T12:00:00Z');
    expect(retryAfterMs('1', now)).toBe(1000);
    expect(retryAfterMs(' 120 ', now)).toBe(120_000);
    expect(retryAfterMs('Sun, 29 Nov 2026 12:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('Sun, 29 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs(null, now)).toBeNull();
    expect(retryAfterMs('soon', now)).toBeNull();
    expect(retryAfterMs('-1', now)).toBeNull();
  });
});
