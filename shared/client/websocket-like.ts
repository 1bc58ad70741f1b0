/**
 * The part of a WebSocket the client uses, met by the browser's WebSocket, Node 22's global one
 * and the `ws` package's. Handler parameters are typed `never` on purpose: each implementation
 * passes its own event class, and a `never` parameter lets all of them fit; the client reads the
 * few fields it needs (data, code, reason, message) defensively.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** readyState values, the same in every implementation. */
export const READY_STATE = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;

/** The fields the client reads from the events it is handed. */
export interface MessageEventLike {
  data?: unknown;
}
export interface CloseEventLike {
  code?: number;
  reason?: string;
}
export interface ErrorEventLike {
  message?: string;
  error?: unknown;
}
