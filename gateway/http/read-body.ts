import type { HttpRequest } from '../uws.js';
import type { Reply } from './responses.js';

export class BodyTooLargeError extends Error {
  readonly code = 'BODY_TOO_LARGE';
  constructor(readonly limit: number) {
    super(`request body is larger than ${limit} bytes`);
  }
}

export class RequestAbortedError extends Error {
  readonly code = 'REQUEST_ABORTED';
}

/**
 * Reads a request body up to `limit` bytes. uWS hands each chunk in a buffer that is reused after
 * the callback, so chunks are copied; a body over the limit is refused as soon as it passes it.
 */
export function readBody(r: Reply, limit: number, declaredLength: number | null): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (declaredLength !== null && declaredLength > limit) {
      reject(new BodyTooLargeError(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    r.res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > limit) {
        done = true;
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) {
        done = true;
        resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      }
    });
    r.res.onAborted(() => {
      r.aborted = true;
      if (!done) {
        done = true;
        reject(new RequestAbortedError('client went away while sending the body'));
      }
    });
  });
}

/**
 * Whether the request's framing is ambiguous: several Content-Length headers that differ, or
 * Content-Length beside Transfer-Encoding. uWS frames by the first; a proxy in front may frame
 * by another, and the rest of the bytes would then be read as a second, smuggled request.
 */
export function ambiguousFraming(req: HttpRequest): boolean {
  let length: string | null = null;
  let conflict = false;
  let chunked = false;
  req.forEach((name, value) => {
    if (name === 'transfer-encoding') chunked = true;
    if (name !== 'content-length') return;
    if (length !== null && length !== value.trim()) conflict = true;
    length = value.trim();
  });
  return conflict || (chunked && length !== null);
}
