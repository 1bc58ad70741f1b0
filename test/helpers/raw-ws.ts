import net from 'node:net';

/**
 * A bare WebSocket client for tests that need thousands of connections in one process: raw TCP,
 * the upgrade request, and frame headers read only to find the server's close frame. Frames'
 * payloads are skipped; nothing is sent after the upgrade.
 */
export class RawWsClient {
  /** When the upgrade was answered 101 (ms, performance.now()). */
  openedAt: number | null = null;
  /** When the server's close frame (or the end of the connection) arrived. */
  closedAt: number | null = null;
  /** The code of the server's close frame; 1006 when the connection ended without one. */
  closeCode: number | null = null;
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;
  private buffered: Buffer = Buffer.alloc(0);
  private upgraded = false;
  private readonly socket: net.Socket;

  constructor(port: number, path: string, localAddress = '127.0.0.1') {
    this.socket = net.connect({ host: '127.0.0.1', port, localAddress });
    let opened!: () => void;
    let failed!: (error: Error) => void;
    let ended!: (code: number) => void;
    this.opened = new Promise((resolve, reject) => ((opened = resolve), (failed = reject)));
    this.closed = new Promise((resolve) => (ended = resolve));
    this.opened.catch(() => undefined);
    this.socket.setNoDelay(true);
    this.socket.once('connect', () => {
      this.socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    const finish = (code: number) => {
      if (this.closeCode !== null) return;
      this.closeCode = code;
      this.closedAt = performance.now();
      this.socket.destroy();
      ended(code);
    };
    this.socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
      if (!this.upgraded) {
        const end = this.buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = this.buffered.toString('latin1', 0, end);
        if (!head.startsWith('HTTP/1.1 101')) {
          failed(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
          finish(1006);
          return;
        }
        this.upgraded = true;
        this.openedAt = performance.now();
        opened();
        this.buffered = this.buffered.subarray(end + 4);
      }
      this.readFrames(finish);
    });
    this.socket.on('error', (error) => failed(error));
    this.socket.on('close', () => {
      failed(new Error('connection closed before the upgrade'));
      finish(1006);
    });
  }

  private readFrames(finish: (code: number) => void): void {
    for (;;) {
      const b = this.buffered;
      if (b.length < 2) return;
      let length = b[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      if (b.length < offset + length) return;
      if ((b[0]! & 0x0f) === 0x8) {
        finish(length >= 2 ? b.readUInt16BE(offset) : 1005);
        return;
      }
      this.buffered = b.subarray(offset + length);
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
