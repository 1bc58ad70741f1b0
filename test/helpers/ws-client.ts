import WebSocket from 'ws';
import { scrapingEventSchema, type ScrapingEvent } from '../../shared/events.js';

/** A test client of WS /ws/scraping/{id}: records every frame, parsed and validated. */
export class RecordingClient {
  readonly events: ScrapingEvent[] = [];
  readonly texts: string[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly ws: WebSocket;

  constructor(url: string, options: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, options);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
    this.opened.catch(() => undefined);
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString();
      this.texts.push(text);
      if (text.startsWith('{"job_id"')) this.events.push(scrapingEventSchema.parse(JSON.parse(text)));
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

  /** Resolves once an event matches (already received or to come). */
  async waitForEvent(match: (e: ScrapingEvent) => boolean, timeoutMs = 15_000): Promise<ScrapingEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching event within ${timeoutMs} ms; got seqs ${this.seqs.join(',')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

export async function httpJson(url: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body };
}
