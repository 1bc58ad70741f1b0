/**
 * Every error code the gateway answers with, in one table: one code means one thing, with one
 * HTTP status, on every route (the README's list is checked against this table by
 * test/unit/error-codes.test.ts, and so is every `sendError` call in gateway/). `status` null: the
 * code travels in a WebSocket frame, not an HTTP response.
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, meaning: 'The job request is invalid; `fields` names every problem by field path.' },
  INVALID_JSON: { status: 400, meaning: 'The body is not valid JSON.' },
  BAD_JOB_ID: { status: 400, meaning: 'The job id in the path is not a positive integer (status endpoint and WebSocket upgrade alike).' },
  BAD_RESUME_POINT: { status: 400, meaning: 'The WebSocket upgrade\'s `last_seq` or `epoch` is malformed.' },
  BAD_SUBSCRIPTION: { status: 400, meaning: 'A subscription\'s `event_types`, `progress_interval_ms` or `last_event_id` (WebSocket upgrade, SSE) is malformed.' },
  AMBIGUOUS_FRAMING: { status: 400, meaning: 'The request\'s framing is ambiguous (two differing `Content-Length` headers, or one beside `Transfer-Encoding`); the connection is closed.' },
  BAD_IDEMPOTENCY_KEY: { status: 400, meaning: 'The `Idempotency-Key` header is malformed.' },
  UNAUTHORIZED: { status: 401, meaning: 'No valid credentials: a missing, malformed, unknown or revoked API key, or a missing, expired or tampered watch token (and for `/ws/stats`, `/metrics`: not the `ADMIN_TOKEN`).' },
  ORIGIN_NOT_ALLOWED: { status: 403, meaning: 'The browser `Origin` is not in `ALLOWED_ORIGINS`.' },
  JOB_NOT_FOUND: { status: 404, meaning: 'No job with this id.' },
  NOT_FOUND: { status: 404, meaning: 'No such path.' },
  METHOD_NOT_ALLOWED: { status: 405, meaning: 'A known path, another method; the `Allow` header lists the right ones.' },
  BODY_TOO_LARGE: { status: 413, meaning: 'The body is larger than `MAX_BODY_BYTES`; the connection is closed.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, meaning: 'The body is not declared as `Content-Type: application/json`.' },
  JOB_ALREADY_FINISHED: { status: 409, meaning: 'Cancel of a job that already ended (completed, failed or cancelled, e.g. a second cancel); nothing was changed.' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, meaning: 'This `Idempotency-Key` was used with a different body in the last 24 hours.' },
  UPGRADE_REQUIRED: { status: 426, meaning: 'A plain HTTP request to the WebSocket endpoint: connect with a WebSocket client.' },
  RATE_LIMITED: { status: 429, meaning: 'Past a limit (jobs per minute, active jobs, new streams per second or open streams of one address — WebSocket upgrades on either path and SSE requests alike —, or replay of one client); `Retry-After` says when to try again.' },
  DRAINING: { status: 503, meaning: 'The gateway is shutting down; connect again (the load balancer picks another one).' },
  UNAVAILABLE: { status: 503, meaning: 'Postgres or Redis failed the request; try again (a job that could not be queued was removed again).' },
  UNKNOWN_MESSAGE: { status: null, meaning: 'WebSocket frame: the gateway understands only the text `ping` from a client.' },
} as const satisfies Record<string, { status: number | null; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
