/**
 * Flood control of client messages (WS_MESSAGES_PER_SECOND), shared by WS /ws/scraping/{id} and
 * WS /ws: a token bucket refilled at `perSecond` a second and holding at most `burst`. A legacy
 * socket's burst is its rate; a /ws connection may also subscribe to its whole allowance of jobs
 * (MAX_SUBSCRIPTIONS_PER_CONNECTION) in one go. A client past its bucket is closed with 1008.
 */
export interface MessageRule {
  perSecond: number;
  burst: number;
  /** The close reason a flood gets. */
  reason: string;
}

/**
 * The bucket's state, kept in two number fields of the socket itself: at tens of thousands of
 * sockets per process, one more object each would cost more than the fields. Both start at 0:
 * never filled, i.e. full.
 */
export interface MessageBudget {
  /** Thousandths of a message left, so that the fields stay small integers. */
  messageMillis: number;
  /** When the bucket was last filled, in ms since this process started (from 1); 0: never. */
  messageFilledAt: number;
}

const ORIGIN = Date.now();

export function messageRule(perSecond: number, burst: number, reason: string): MessageRule {
  return { perSecond, burst: Math.max(burst, perSecond), reason };
}

/** Spends one message from the socket's bucket; false when it is empty (the client floods). */
export function spendMessage(budget: MessageBudget, rule: MessageRule, now = Date.now()): boolean {
  const at = now - ORIGIN + 1;
  const full = rule.burst * 1000;
  // Milliseconds × messages a second = thousandths of a message.
  const millis = budget.messageFilledAt === 0 ? full : Math.min(full, budget.messageMillis + (at - budget.messageFilledAt) * rule.perSecond);
  budget.messageFilledAt = at;
  if (millis < 1000) {
    budget.messageMillis = millis;
    return false;
  }
  budget.messageMillis = millis - 1000;
  return true;
}
