import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** A request a fare source sent to the fixture server. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
  /** Date.now() when it arrived. */
  at: number;
}

/** What the fixture answers: a status, headers and a body (objects as JSON), or nothing at all. */
export interface FixtureAnswer {
  status?: number;
  headers?: Record<string, string>;
  body?: string | object;
  /** Never answer (the client's timeout has to end it). */
  hang?: boolean;
}

export type FixtureHandler = (request: RecordedRequest) => FixtureAnswer;

/** A saved answer of a real source (test/fixtures/sources/…), as text. */
export function fixtureText(name: string): string {
  return readFileSync(new URL(`../fixtures/sources/${name}`, import.meta.url), 'utf8');
}
export const fixtureJson = (name: string): any => JSON.parse(fixtureText(name));

/**
 * The saved answers of Ryanair's fare finder, WizzAir's timetable and Kiwi's search, served on
 * the paths and parameters those APIs take; anything else is a 404 naming what was asked.
 */
export function savedAnswers(request: RecordedRequest): FixtureAnswer {
  const { path, query, body } = request;
  if (path === '/farfnd/v4/roundTripFares') {
    return file(`ryanair-roundtrip-${query.get('departureAirportIataCode')}-${query.get('arrivalAirportIataCode')}.json`);
  }
  const wizz = /^\/[\d.]+\/Api\/search\/timetable$/.exec(path);
  if (wizz && request.method === 'POST') {
    const leg = (body as { flightList?: { departureStation: string; arrivalStation: string }[] }).flightList?.[0];
    return file(`wizzair-timetable-${leg?.departureStation}-${leg?.arrivalStation}.json`);
  }
  if (path === '/v2/search') return file(`kiwi-search-${query.get('fly_from')}-${query.get('fly_to')}.json`);
  return { status: 404, body: { message: `no fixture for ${request.method} ${path}` } };
}

function file(name: string): FixtureAnswer {
  try {
    return { body: fixtureText(name), headers: { 'content-type': 'application/json' } };
  } catch {
    return { status: 404, body: { message: `no fixture ${name}` } };
  }
}

/** A loopback HTTP server standing in for the fare sources, recording every request. */
export class FareFixtureServer {
  readonly requests: RecordedRequest[] = [];

  private constructor(
    private readonly server: Server,
    private handler: FixtureHandler,
  ) {}

  static async start(handler: FixtureHandler = savedAnswers): Promise<FareFixtureServer> {
    let fixture: FareFixtureServer;
    const server = createServer((req, res) => void fixture.handle(req, res));
    fixture = new FareFixtureServer(server, handler);
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    return fixture;
  }

  get url(): string {
    const { port } = this.server.address() as { port: number };
    return `http://127.0.0.1:${port}`;
  }

  /** Answers from now on with another handler. */
  use(handler: FixtureHandler): void {
    this.handler = handler;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fixture');
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: recorded as text
    }
    const request: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body, at };
    this.requests.push(request);
    const answer = this.handler(request);
    if (answer.hang) return;
    const payload = typeof answer.body === 'string' || answer.body === undefined ? (answer.body ?? '') : JSON.stringify(answer.body);
    res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers });
    res.end(payload);
  }
}
