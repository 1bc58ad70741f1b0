import WebSocket from 'ws';
import { scrapingEventSchema, type ScrapingEvent } from '../../shared/events.js';

/** A test client of WS /ws/scraping/{id}: records every frame, parsed and validated. */
export class RecordingClient {
  readonly events: ScrapingEvent[] = [];
  readonly texts: string[] = [];
  /** Frames that looked like events but failed the shared schema, with the reason: a test fails on them by name, not as an unhandled error. */
  readonly invalid: { frame: string; problem: string }[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** The close once it happened; null while open. */
  closeInfo: { code: number; reason: string } | null = null;
  private readonly ws: WebSocket;

  /** `label` names the client in failure messages ("client 7"); the URL by default. */
  constructor(
    readonly url: string,
    options: WebSocket.ClientOptions = {},
    readonly label = url,
  ) {
    // No permessage-deflate unless a test asks for it: inflating hundreds of clients' frames on
    // zlib's small thread pool would make this process, not the gateway, the bottleneck.
    this.ws = new WebSocket(url, { perMessageDeflate: false, ...options });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`${this.label}: upgrade refused: HTTP ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
    this.opened.catch(() => undefined);
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
      }),
    );
    this.ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString();
      this.texts.push(text);
      if (!text.startsWith('{"job_id"')) return;
      try {
        this.events.push(scrapingEventSchema.parse(JSON.parse(text)));
      } catch (error) {
        this.invalid.push({ frame: text, problem: error instanceof Error ? error.message : String(error) });
      }
    });
  }

  get seqs(): number[] {
    return this.events.map((e) => e.seq);
  }

  send(text: string): void {
    this.ws.send(text);
  }

  close(): void {
    this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }

  /** Resolves once an event matches (already received or to come); the failure names the client, what it got and how it ended. */
  async waitForEvent(match: (e: ScrapingEvent) => boolean, timeoutMs = 15_000): Promise<ScrapingEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (this.invalid.length > 0) throw new Error(`${this.label}: invalid frame ${this.invalid[0]!.frame}: ${this.invalid[0]!.problem}`);
      // A closed client receives nothing more: fail now, not at the deadline.
      if (this.closeInfo) throw new Error(`${this.label}: closed before a matching event; ${this.describe()}`);
      if (Date.now() > deadline) throw new Error(`${this.label}: no matching event within ${timeoutMs} ms; ${this.describe()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Resolves with the close; the failure names the client and what it received. */
  async waitForClose(timeoutMs = 15_000): Promise<{ code: number; reason: string }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.label}: not closed within ${timeoutMs} ms; ${this.describe()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** What the client got, for failure messages: its seqs, its last frame and its close. */
  describe(): string {
    const last = this.texts.at(-1);
    const close = this.closeInfo ? `closed ${this.closeInfo.code} "${this.closeInfo.reason}"` : 'open';
    return `got seqs [${this.seqs.join(',')}], last frame ${last === undefined ? '(none)' : last.slice(0, 300)}, ${close}`;
  }
}

/**
 * Fails unless the client received exactly `expected` seqs, naming the client, the first position
 * that differs, the seq expected there and the frame received instead.
 */
export function expectSeqs(client: RecordingClient, expected: number[]): void {
  const got = client.seqs;
  const length = Math.max(got.length, expected.length);
  for (let i = 0; i < length; i++) {
    if (got[i] === expected[i]) continue;
    const frame = got[i] === undefined ? '(nothing)' : JSON.stringify(client.events[i]).slice(0, 300);
    throw new Error(
      `${client.label}: at position ${i} expected seq ${expected[i] ?? '(no more events)'}, received ${frame}; ` +
        `all seqs [${got.join(',')}], expected [${expected.join(',')}]`,
    );
  }
}

export async function httpJson(url: string, init: RequestInit = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  // headers is not enumerable: tests that compare the whole result with toEqual see status and body only.
  return Object.defineProperty({ status: res.status, body } as { status: number; body: any; headers: Headers }, 'headers', { value: res.headers, enumerable: false });
}
