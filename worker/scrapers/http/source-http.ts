import type { z } from 'zod';
import { errorMessage } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { SourceHttpConfig } from '../../../shared/sources-config.js';
import { abortableDelay } from '../abortable-delay.js';
import { retryAfterMs } from './retry-after.js';
import { SourceError, type SourceFailure } from './source-error.js';
import type { SourceRateLimit } from './source-rate-limit.js';

export interface JsonRequest<T> {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** Sent as JSON. */
  body?: unknown;
  /** The documented shape of the answer; anything else fails the search as bad_response. */
  schema: z.ZodType<T>;
  /** The job's signal: aborting it stops the request (and any wait) at once. */
  signal: AbortSignal;
}

/** What one attempt came to when it did not produce the answer. */
interface AttemptFailure {
  failure: SourceFailure;
  message: string;
  retryable: boolean;
  /** Asked by the source (Retry-After), in ms. */
  retryAfterMs?: number | null;
  cause?: unknown;
}

/**
 * How every real fare source talks HTTP, so the sources hold only their request and answer
 * shapes. Each attempt waits for the source's shared rate limit, then runs Node's fetch with a
 * timeout and the job's AbortSignal. 429, 5xx, network errors and timeouts are retried up to
 * `retries` times with exponential backoff and jitter, or after exactly what Retry-After asks
 * (plus a little jitter, never less); 401/403 and other 4xx are final. The answer must be JSON of
 * the source's documented shape (zod): a changed schema fails the search as bad_response naming
 * the field, instead of a crash or a garbage row.
 */
export class SourceHttp {
  constructor(
    private readonly source: string,
    private readonly config: SourceHttpConfig,
    private readonly rateLimit: SourceRateLimit | null,
    private readonly log: Logger,
    private readonly random: () => number = Math.random,
  ) {}

  async requestJson<T>(request: JsonRequest<T>): Promise<T> {
    const { signal } = request;
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.attempt(request);
      if (outcome.ok) return outcome.value;
      const failed = outcome.failed;
      if (signal.aborted) throw signal.reason;
      if (!failed.retryable || attempt >= this.config.retries) {
        const tries = attempt + 1;
        const suffix = failed.retryable && tries > 1 ? ` (${tries} attempts)` : '';
        throw new SourceError(this.source, failed.failure, `${this.source} ${failed.message}${suffix}`, { cause: failed.cause });
      }
      const asked = failed.retryAfterMs ?? null;
      if (asked !== null && asked > this.config.maxRetryAfterMs) {
        throw new SourceError(this.source, 'rate_limited', `${this.source} asked to wait ${Math.ceil(asked / 1000)} s (Retry-After), more than the ${this.config.maxRetryAfterMs / 1000} s allowed`);
      }
      const delay = asked !== null ? asked + Math.floor(this.random() * Math.min(250, asked * 0.1)) : this.backoff(attempt);
      this.log.debug({ source: this.source, attempt: attempt + 1, failure: failed.failure, err: failed.message, delayMs: delay }, 'source request retried');
      await abortableDelay(delay, signal);
    }
  }

  /** Exponential, capped, with "equal jitter": half fixed so retries always back off, half random so workers spread out. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.config.backoffMaxMs, this.config.backoffMs * 2 ** attempt);
    return Math.round(ceiling / 2 + this.random() * (ceiling / 2));
  }

  private async attempt<T>(request: JsonRequest<T>): Promise<{ ok: true; value: T } | { ok: false; failed: AttemptFailure }> {
    const fail = (failed: AttemptFailure) => ({ ok: false as const, failed });
    await this.rateLimit?.acquire(request.signal);
    const timeout = AbortSignal.timeout(this.config.timeoutMs);
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const response = await fetch(request.url, {
        method: request.method ?? 'GET',
        headers: { accept: 'application/json', ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}), ...request.headers },
        body: request.body !== undefined ? JSON.stringify(request.body) : undefined,
        signal: AbortSignal.any([request.signal, timeout]),
      });
      status = response.status;
      retryAfter = response.headers.get('retry-after');
      // The body is read under the same signals: a source that stalls mid-answer times out too.
      text = await response.text();
    } catch (error) {
      if (request.signal.aborted) throw request.signal.reason;
      if (timeout.aborted) return fail({ failure: 'timeout', message: `gave no answer within ${this.config.timeoutMs} ms`, retryable: true, cause: error });
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      return fail({ failure: 'unavailable', message: `could not be reached (${errorMessage(error)}${cause})`, retryable: true, cause: error });
    }

    if (status === 429) return fail({ failure: 'rate_limited', message: 'answered 429 Too Many Requests', retryable: true, retryAfterMs: retryAfterMs(retryAfter) });
    if (status >= 500) return fail({ failure: 'unavailable', message: `answered HTTP ${status}`, retryable: true, retryAfterMs: retryAfterMs(retryAfter) });
    if (status === 401 || status === 403) return fail({ failure: 'blocked', message: `refused the request (HTTP ${status})`, retryable: false });
    if (status < 200 || status >= 300) return fail({ failure: 'bad_response', message: `refused the request (HTTP ${status}: ${snippet(text)})`, retryable: false });

    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      return fail({ failure: 'bad_response', message: `answered with something that is not JSON (${errorMessage(error)}): ${snippet(text)}`, retryable: false });
    }
    const parsed = request.schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.length ? issue.path.join('.') : '(root)';
      return fail({ failure: 'bad_response', message: `answer does not have the documented shape: field "${field}": ${issue.message}`, retryable: false });
    }
    return { ok: true, value: parsed.data };
  }
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 80 ? `${flat.slice(0, 80)}…` : flat || '(empty)';
}
