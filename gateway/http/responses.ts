import type { ErrorResponse } from '../../shared/api.js';
import type { Logger } from '../../shared/logger.js';
import type { HttpResponse } from '../uws.js';

/**
 * A response that knows whether its client went away. uWS forbids touching a response after
 * onAborted, and asks that writes after an await be corked into one syscall.
 */
export interface Reply {
  readonly res: HttpResponse;
  aborted: boolean;
}

/** A response answered before the handler returns: uWS needs no abort handler for it. */
export function immediate(res: HttpResponse): Reply {
  return { res, aborted: false };
}

/** Registers the abort handler at once: required before any await in a uWS handler. */
export function reply(res: HttpResponse): Reply {
  const r: Reply = { res, aborted: false };
  res.onAborted(() => {
    r.aborted = true;
  });
  return r;
}

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  201: '201 Created',
  202: '202 Accepted',
  204: '204 No Content',
  400: '400 Bad Request',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  // Access control and limits.
  401: '401 Unauthorized',
  422: '422 Unprocessable Entity',
  429: '429 Too Many Requests',
  426: '426 Upgrade Required',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? `${status} Status`;
}

export interface SendOptions {
  headers?: Record<string, string>;
  /** Close the connection after the response (a request whose body was not read to its end). */
  closeConnection?: boolean;
}

export function sendBody(r: Reply, status: number, contentType: string, body: string | Buffer, options: SendOptions = {}): void {
  if (r.aborted) return;
  r.aborted = true; // a response ends once
  r.res.cork(() => {
    r.res.writeStatus(statusLine(status)).writeHeader('Content-Type', contentType);
    for (const [name, value] of Object.entries(options.headers ?? {})) r.res.writeHeader(name, value);
    r.res.end(body, options.closeConnection);
  });
}

export function sendJson(r: Reply, status: number, body: unknown, options: SendOptions = {}): void {
  sendBody(r, status, 'application/json; charset=utf-8', JSON.stringify(body), {
    ...options,
    headers: { 'Cache-Control': 'no-store', ...options.headers },
  });
}

export function sendError(
  r: Reply,
  status: number,
  code: string,
  message: string,
  options: SendOptions & { fields?: Record<string, string[]> } = {},
): void {
  const body: ErrorResponse = { error: { code, message, ...(options.fields ? { fields: options.fields } : {}) } };
  sendJson(r, status, body, options);
}

/** A request that failed on a dependency (Postgres, Redis): logged, answered 503 so clients retry. */
export function sendUnavailable(log: Logger, r: Reply, error: unknown): void {
  log.error({ err: error }, 'request failed');
  sendError(r, 503, 'UNAVAILABLE', 'the service could not complete the request; try again');
}
