import net from 'node:net';
import { monoUs } from '../lib/clock.js';
import type { WireProtocol } from './messages.js';
import { SeqRecord, type PhaseTotals } from './recorder.js';
import { benchWatchToken } from '../lib/watch-token.js';

/**
 * A minimal WebSocket client connection: raw TCP, handshake without key check, frame parsing
 * that extracts only seq and metadata.emitted_at_us with byte scans (no JSON.parse, no strings),
 * masked client frames with a zero key. Reads go into one buffer shared by every socket of the
 * process (net's `onread`), so a read allocates nothing.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const HEADER_END = Buffer.from('\r\n\r\n');
const EMITTED_MARK = Buffer.from('"emitted_at_us":');
const SEQ_SCAN_BYTES = 96;

export const enum SocketState {
  Idle,
  Connecting,
  Handshake,
  Open,
  Closed,
}

export interface SocketEvents {
  /** Upgrade done (Socket.IO: namespace joined and the job room requested). */
  opened(conn: RawSocket): void;
  /** Could not open: refused, non-101 answer, timeout. */
  failed(conn: RawSocket, reason: string): void;
  /** An open connection ended without us asking: code of the server's close frame, 1006 without one. */
  closed(conn: RawSocket, code: number): void;
}

export class RawSocket {
  state = SocketState.Idle;
  startedUs = 0;
  closeCode = 0;
  resumes = 0;
  readonly seq: SeqRecord;
  private sock: net.Socket | null = null;
  private pending: Buffer | null = null;
  private intentional = false;

  constructor(
    readonly job: number,
    readonly port: number,
    readonly localAddress: string,
    readonly protocol: WireProtocol,
    totals: PhaseTotals,
    private readonly events: SocketEvents,
  ) {
    this.seq = new SeqRecord(totals);
  }

  connect(lastSeq: number | null): void {
    this.state = SocketState.Connecting;
    this.startedUs = monoUs();
    this.intentional = false;
    this.pending = null;
    const path =
      this.protocol === 'socketio'
        ? '/socket.io/?EIO=4&transport=websocket'
        : `/ws/scraping/${this.job}?${lastSeq === null ? '' : `last_seq=${lastSeq}&`}token=${benchWatchToken(this.job)}`;
    const sock = net.connect({
      host: '127.0.0.1',
      port: this.port,
      localAddress: this.localAddress,
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => {
          this.onBytes(buf as Buffer, n);
          return true;
        },
      },
    });
    this.sock = sock;
    sock.on('connect', () => {
      this.state = SocketState.Handshake;
      sock.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    sock.on('error', (error: NodeJS.ErrnoException) => {
      if (this.state === SocketState.Connecting || this.state === SocketState.Handshake) this.fail(error.code ?? error.message);
    });
    sock.on('close', () => {
      if (this.sock !== sock) return;
      this.sock = null;
      const was = this.state;
      this.state = SocketState.Closed;
      if (this.intentional) return;
      if (was === SocketState.Open) {
        if (this.closeCode === 0) this.closeCode = 1006;
        this.events.closed(this, this.closeCode);
      } else if (was === SocketState.Connecting || was === SocketState.Handshake) {
        this.events.failed(this, 'closed during handshake');
      }
    });
  }

  /** Drops the connection from our side (no close frame), as a client that lost its network. */
  drop(): void {
    this.intentional = true;
    this.state = SocketState.Closed;
    const sock = this.sock;
    this.sock = null;
    sock?.destroy();
  }

  /** Times out a connect that has not opened. */
  abandon(reason: string): void {
    if (this.state === SocketState.Connecting || this.state === SocketState.Handshake) this.fail(reason);
  }

  sendText(text: string): void {
    const payload = Buffer.from(text);
    this.sendFrame(0x1, payload);
  }

  private fail(reason: string): void {
    this.intentional = true;
    const sock = this.sock;
    this.sock = null;
    this.state = SocketState.Closed;
    sock?.destroy();
    this.events.failed(this, reason);
  }

  private sendFrame(opcode: number, payload: Buffer): void {
    if (!this.sock || payload.length > 125) return;
    const frame = Buffer.allocUnsafe(6 + payload.length);
    frame[0] = 0x80 | opcode;
    frame[1] = 0x80 | payload.length;
    frame.writeUInt32BE(0, 2); // masking key 0: the payload goes as is
    payload.copy(frame, 6);
    this.sock.write(frame);
  }

  private onBytes(chunk: Buffer, n: number): void {
    let b = chunk;
    let end = n;
    if (this.pending !== null) {
      b = Buffer.concat([this.pending, chunk.subarray(0, n)]);
      end = b.length;
      this.pending = null;
    }
    let off = 0;
    if (this.state === SocketState.Handshake) {
      const at = b.subarray(0, end).indexOf(HEADER_END);
      if (at < 0) {
        this.pending = Buffer.from(b.subarray(0, end));
        return;
      }
      // "HTTP/1.1 101"
      if (b[9] !== 0x31 || b[10] !== 0x30 || b[11] !== 0x31) {
        this.fail(`HTTP ${b.toString('latin1', 9, 12)}`);
        return;
      }
      this.state = SocketState.Open;
      if (this.protocol === 'plain') this.events.opened(this);
      off = at + 4;
    }
    const now = monoUs();
    while (end - off >= 2) {
      const b1 = b[off + 1]!;
      let len = b1 & 0x7f;
      let header = 2;
      if (len === 126) {
        if (end - off < 4) break;
        len = (b[off + 2]! << 8) | b[off + 3]!;
        header = 4;
      } else if (len === 127) {
        if (end - off < 10) break;
        len = b.readUInt32BE(off + 6);
        header = 10;
      }
      if (end - off < header + len) break;
      const opcode = b[off]! & 0x0f;
      const start = off + header;
      off = start + len;
      if (opcode === 0x1 || opcode === 0x2) {
        this.onMessage(b, start, off, now);
      } else if (opcode === 0x9) {
        this.sendFrame(0xa, Buffer.from(b.subarray(start, off)));
      } else if (opcode === 0x8) {
        this.closeCode = len >= 2 ? (b[start]! << 8) | b[start + 1]! : 1005;
        this.sock?.end();
        return;
      }
      if (this.state !== SocketState.Open) return;
    }
    if (off < end) this.pending = Buffer.from(b.subarray(off, end));
  }

  private onMessage(b: Buffer, start: number, end: number, now: number): void {
    if (this.protocol === 'socketio') {
      const c0 = b[start];
      if (c0 === 0x34 /* 4 */) {
        const c1 = b[start + 1];
        if (c1 === 0x32 /* 42: event */) {
          this.onEvent(b, start, end, now);
        } else if (c1 === 0x30 /* 40: namespace joined */) {
          this.sendText(`42["join","${this.job}"]`);
          this.events.opened(this);
        }
      } else if (c0 === 0x32 /* 2: ping */ && end - start === 1) {
        this.sendText('3');
      } else if (c0 === 0x30 /* 0: engine.io open */) {
        this.sendText('40');
      }
      return;
    }
    if (b[start] === 0x7b /* { */) this.onEvent(b, start, end, now);
  }

  private onEvent(b: Buffer, start: number, end: number, now: number): void {
    const seq = readSeq(b, start, end);
    if (seq < 0) return;
    let emitted = 0;
    const at = b.indexOf(EMITTED_MARK, start);
    if (at >= 0 && at < end) emitted = readUint(b, at + EMITTED_MARK.length, end);
    this.seq.record(seq, emitted, now);
  }
}

/** The number after `"seq":` near the start of an event, or -1. */
function readSeq(b: Buffer, start: number, end: number): number {
  const limit = Math.min(end, start + SEQ_SCAN_BYTES) - 6;
  for (let i = start; i <= limit; i++) {
    if (b[i] === 0x22 && b[i + 1] === 0x73 && b[i + 2] === 0x65 && b[i + 3] === 0x71 && b[i + 4] === 0x22 && b[i + 5] === 0x3a) {
      return readUint(b, i + 6, end);
    }
  }
  return -1;
}

function readUint(b: Buffer, from: number, end: number): number {
  let n = 0;
  let i = from;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c < 0x30 || c > 0x39) break;
    n = n * 10 + (c - 0x30);
  }
  return i === from ? -1 : n;
}
