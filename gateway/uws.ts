import { createRequire } from 'node:module';
import uWS from 'uWebSockets.js';

export { uWS };
export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';

const require = createRequire(import.meta.url);

/**
 * Whether the native uWebSockets.js binary is loaded. The package silently falls back to a slow
 * `ws`-based copy when its binary does not load (wrong Node ABI, old glibc); that copy lacks the
 * native-only exports and loads no `.node` file.
 */
export function detectUwsRuntime(): { native: boolean; binary: string | null } {
  const binary = Object.keys(require.cache).find((path) => /uws_[^/]*\.node$/.test(path)) ?? null;
  const native = binary !== null && typeof (uWS as unknown as Record<string, unknown>).getParts === 'function';
  return { native, binary };
}

type ListenWithOptions = (
  host: string,
  port: number,
  options: number,
  cb: (socket: import('uWebSockets.js').us_listen_socket | false) => void,
) => void;

/**
 * Listens on host:port. Exclusive: a port already taken fails loudly; otherwise uWS shares it
 * with SO_REUSEPORT (several gateway processes on one port). The 4-argument form exists in the
 * native binary though its type definitions lack it.
 */
export function listen(app: import('uWebSockets.js').TemplatedApp, host: string, port: number, exclusive: boolean): Promise<import('uWebSockets.js').us_listen_socket | false> {
  const options = exclusive ? ((uWS as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT: number }).LIBUS_LISTEN_EXCLUSIVE_PORT ?? 1) : 0;
  return new Promise((resolve) => (app.listen as unknown as ListenWithOptions).call(app, host, port, options, resolve));
}
