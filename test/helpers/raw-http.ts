import { connect } from 'node:net';

/**
 * Sends raw bytes on one TCP connection (optionally from a chosen loopback address, e.g.
 * 127.0.0.2, to be a different client than 127.0.0.1) and collects what comes back until the
 * server closes or `waitMs` passes.
 */
export function rawExchange(port: number, bytes: string | Buffer, options: { localAddress?: string; waitMs?: number } = {}): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: options.localAddress });
    let text = '';
    let closed = false;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed });
    }, options.waitMs ?? 1500);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve({ text, closed });
    });
    socket.on('connect', () => socket.write(bytes));
  });
}

/** The status codes of every HTTP response in a raw exchange, in order. */
export function statusCodes(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

/** A POST /api/jobs request as raw bytes. */
export function rawPost(body: string, headers: Record<string, string> = {}): string {
  const lines = Object.entries({ Host: 'scout.test', 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), ...headers }).map(([k, v]) => `${k}: ${v}`);
  return `POST /api/jobs HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}
