/**
 * Milliseconds a Retry-After header asks to wait (RFC 9110 §10.2.3: delay-seconds or an
 * HTTP-date), or null when absent or unreadable.
 */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
