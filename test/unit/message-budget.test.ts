import { describe, expect, it } from 'vitest';
import { messageRule, spendMessage, type MessageBudget } from '../../gateway/limits/message-budget.js';

describe('message budget (WS_MESSAGES_PER_SECOND)', () => {
  const fresh = (): MessageBudget => ({ messageMillis: 0, messageFilledAt: 0 });

  it('lets a burst through, then the rate, and refuses past it', () => {
    const rule = messageRule(20, 120, 'flood');
    const budget = fresh();
    const t = Date.now();
    for (let i = 0; i < 120; i++) expect(spendMessage(budget, rule, t)).toBe(true);
    expect(spendMessage(budget, rule, t)).toBe(false);
    // Half a second refills ten messages.
    for (let i = 0; i < 10; i++) expect(spendMessage(budget, rule, t + 500)).toBe(true);
    expect(spendMessage(budget, rule, t + 500)).toBe(false);
    // An idle client gets its whole burst back, no more.
    for (let i = 0; i < 120; i++) expect(spendMessage(budget, rule, t + 60_000)).toBe(true);
    expect(spendMessage(budget, rule, t + 60_000)).toBe(false);
  });

  it('gives a legacy socket its rate as burst: a steady rate is never refused', () => {
    const rule = messageRule(20, 20, 'flood');
    const budget = fresh();
    const t = Date.now();
    for (let i = 0; i < 200; i++) expect(spendMessage(budget, rule, t + i * 50)).toBe(true);
    for (let i = 0; i < 20; i++) spendMessage(budget, rule, t + 10_000);
    expect(spendMessage(budget, rule, t + 10_000)).toBe(false);
  });
});
