/**
 * Why a JobStream reported a problem: stable codes a program can branch on, each mapped to whether
 * the stream carries on by itself (true) or has stopped for good (false).
 */
export const JOB_STREAM_ERROR_CODES = {
  /** A frame that is not a valid event of this job (bad JSON, failed the schema, another job): skipped. */
  BAD_FRAME: true,
  /** An event's seq skipped ahead: the stream reconnects and resumes from the last seq it holds. */
  SEQ_GAP: true,
  /** Nothing (not even a pong) arrived for two keepalive intervals: the connection is presumed dead and replaced. */
  STALE_CONNECTION: true,
  /** The gateway closed with a code that says not to reconnect (44xx), or no WebSocket could be opened at all. */
  REFUSED: false,
  /** The token function threw or rejected: retried with backoff, like a failed connection. */
  TOKEN_UNAVAILABLE: true,
  /** The watch token ran out (its `exp` passed, or the token function threw WatchTokenExpired) and no fresh one was given: stopped. */
  TOKEN_EXPIRED: false,
  /** maxRetries reconnects in a row failed before any frame arrived. */
  GAVE_UP: false,
  /** The very first connection never opened, after firstConnectRetries attempts: nothing answers at the URL. */
  UNREACHABLE: false,
} as const;
export type JobStreamErrorCode = keyof typeof JOB_STREAM_ERROR_CODES;

export class JobStreamError extends Error {
  /** Whether the stream carries on by itself after this error (skipping a frame, reconnecting). */
  readonly retryable: boolean;

  constructor(
    readonly code: JobStreamErrorCode,
    message: string,
    readonly detail: { closeCode?: number; frame?: string } = {},
  ) {
    super(message);
    this.name = 'JobStreamError';
    this.retryable = JOB_STREAM_ERROR_CODES[code];
  }
}
