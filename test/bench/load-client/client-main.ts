/**
 * A load client process: holds many WebSocket connections (raw-socket.ts), each from a source
 * address in 127.0.0.2–127.0.0.250, and answers the orchestrator's commands over IPC.
 */
import { monoUs } from '../lib/clock.js';
import type { ClientCommand, ClientReply, ConnectionSpec, StatsResult, WireProtocol } from './messages.js';
import { PhaseTotals } from './recorder.js';
import { RawSocket, SocketState, type SocketEvents } from './raw-socket.js';

const FIRST_HOST = 2;
const HOSTS = 249; // 127.0.0.2 … 127.0.0.250
/** Server closes after which our gateway's clients reconnect with last_seq (shared/protocol.ts). */
const RESUMABLE = new Set([1001, 1006, 1011, 4000, 4001, 4003]);
const MAX_RESUMES = 20;

const totals = new PhaseTotals();
const sockets: RawSocket[] = [];
let resumeOnClose = false;
let errors: Record<string, number> = {};

/** Connects a batch with at most `window` handshakes in flight; resolves when each opened or failed. */
class ConnectWave {
  private next = 0;
  private inFlight = 0;
  opened = 0;
  failed = 0;
  private readonly started = monoUs();
  private readonly done: Promise<void>;
  private finish!: () => void;
  private readonly watchdog: NodeJS.Timeout;

  constructor(
    private readonly batch: RawSocket[],
    private readonly window: number,
    private readonly lastSeqOf: (s: RawSocket) => number | null,
    timeoutMs: number,
  ) {
    this.done = new Promise((resolve) => (this.finish = resolve));
    this.watchdog = setInterval(() => {
      const cutoff = monoUs() - timeoutMs * 1000;
      for (const s of this.batch) if (s.state !== SocketState.Open && s.state !== SocketState.Closed && s.startedUs < cutoff) s.abandon('timeout');
    }, 250);
  }

  run(): Promise<void> {
    if (this.batch.length === 0) this.finish();
    this.pump();
    return this.done.finally(() => clearInterval(this.watchdog));
  }

  settled(ok: boolean): void {
    this.inFlight -= 1;
    if (ok) this.opened += 1;
    else this.failed += 1;
    if (this.opened + this.failed === this.batch.length) this.finish();
    else this.pump();
  }

  get elapsedMs(): number {
    return (monoUs() - this.started) / 1000;
  }

  private pump(): void {
    while (this.inFlight < this.window && this.next < this.batch.length) {
      this.inFlight += 1;
      const s = this.batch[this.next++]!;
      s.connect(this.lastSeqOf(s));
    }
  }
}

const waves = new Map<RawSocket, ConnectWave>();

const events: SocketEvents = {
  opened(s) {
    const wave = waves.get(s);
    if (wave) {
      waves.delete(s);
      wave.settled(true);
    }
  },
  failed(s, reason) {
    errors[reason] = (errors[reason] ?? 0) + 1;
    const wave = waves.get(s);
    if (wave) {
      waves.delete(s);
      wave.settled(false);
    }
  },
  closed(s, code) {
    s.closeCode = code;
    if (resumeOnClose && RESUMABLE.has(code) && s.seq.last >= 0 && s.resumes < MAX_RESUMES) {
      s.resumes += 1;
      // Resume right where this connection is: the gateway serves what it missed from history.
      setTimeout(() => s.state === SocketState.Closed && s.connect(s.seq.last), 20 + Math.random() * 100);
    }
  },
};

async function connectAll(specs: ConnectionSpec[], protocol: WireProtocol, globalOffset: number, window: number, timeoutMs: number) {
  const batch = specs.map((spec, i) => {
    const host = FIRST_HOST + ((globalOffset + i) % HOSTS);
    return new RawSocket(spec.job, spec.port, `127.0.0.${host}`, protocol, totals, events);
  });
  sockets.push(...batch);
  errors = {};
  const wave = new ConnectWave(batch, window, () => null, timeoutMs);
  for (const s of batch) waves.set(s, wave);
  await wave.run();
  return { opened: wave.opened, failed: wave.failed, elapsedMs: wave.elapsedMs };
}

function reset(bases: number[]): void {
  totals.reset(monoUs());
  for (const s of sockets) {
    s.seq.startPhase(bases[s.job] ?? 0);
    s.seq.dropUs = 0;
    s.seq.caughtUpUs = -1;
  }
}

function stats(id: number, ends: number[]): StatsResult {
  let open = 0;
  let unique = 0;
  let duplicates = 0;
  let reordered = 0;
  let lost = 0;
  let late = 0;
  let expected = 0;
  let lossyConnections = 0;
  let stale = 0;
  let resumes = 0;
  const closes: Record<string, number> = {};
  for (const s of sockets) {
    if (s.state === SocketState.Open) open += 1;
    unique += s.seq.unique;
    duplicates += s.seq.duplicates;
    reordered += s.seq.reordered;
    stale += s.seq.stale;
    resumes += s.resumes;
    // Skipped seqs are lost. The tail not yet received is lost too on a connection that is gone
    // for good, and merely late on one that is open or resuming.
    const end = ends[s.job] ?? s.seq.base;
    expected += Math.max(0, end - s.seq.base);
    const missing = s.seq.notReceived(end);
    const gone = s.state === SocketState.Closed && !(resumeOnClose && s.resumes < MAX_RESUMES && RESUMABLE.has(s.closeCode));
    const l = gone ? missing : Math.min(missing, s.seq.gaps);
    lost += l;
    late += missing - l;
    if (l > 0) lossyConnections += 1;
    if (s.closeCode !== 0) closes[s.closeCode] = (closes[s.closeCode] ?? 0) + 1;
  }
  return {
    type: 'stats',
    id,
    connections: sockets.length,
    open,
    unique,
    duplicates,
    reordered,
    lost,
    late,
    expected,
    lossyConnections,
    stale,
    latency: totals.latency.toJSON(),
    catchUp: totals.catchUp.toJSON(),
    closes,
    resumes,
    lastReceiptUs: totals.lastReceiptUs,
  };
}

/** Drops every connection of a job at once and reconnects them, optionally resuming `back` events behind. */
async function storm(job: number, back: number, resumeWithLastSeq: boolean, window: number) {
  const victims = sockets.filter((s) => s.job === job);
  const dropUs = monoUs();
  totals.reset(dropUs);
  for (const s of victims) s.drop();
  for (const s of victims) {
    const held = s.seq.last;
    s.seq.startPhase(0);
    s.seq.base = resumeWithLastSeq ? Math.max(0, held - back) : held;
    s.seq.last = s.seq.base;
    s.seq.dropUs = dropUs;
    s.seq.caughtUpUs = -1;
  }
  errors = {};
  const wave = new ConnectWave(victims, window, (s) => (resumeWithLastSeq ? s.seq.base : null), 30_000);
  for (const s of victims) waves.set(s, wave);
  await wave.run();
  return { opened: wave.opened, failed: wave.failed, elapsedMs: wave.elapsedMs };
}

function send(reply: ClientReply): void {
  process.send!(reply);
}

process.on('message', (command: ClientCommand) => {
  switch (command.type) {
    case 'connect':
      resumeOnClose = command.resume;
      void connectAll(command.specs, command.protocol, command.globalOffset, command.window, command.timeoutMs).then((r) =>
        send({ type: 'connected', id: command.id, ...r, errors }),
      );
      break;
    case 'reset':
      reset(command.bases);
      send({ type: 'ack', id: command.id });
      break;
    case 'progress': {
      let withSeq = 0;
      let live = 0;
      let open = 0;
      for (const s of sockets) {
        if (s.seq.last >= 0) withSeq += 1;
        if (s.seq.live) live += 1;
        if (s.state === SocketState.Open) open += 1;
      }
      send({ type: 'progress', id: command.id, unique: totals.unique, withSeq, live, open, caughtUp: totals.caughtUp, lastReceiptUs: totals.lastReceiptUs });
      break;
    }
    case 'stats':
      send(stats(command.id, command.ends));
      break;
    case 'storm':
      void storm(command.job, command.back, command.resumeWithLastSeq, command.window).then((r) =>
        send({ type: 'connected', id: command.id, ...r, errors }),
      );
      break;
    case 'disconnect':
      resumeOnClose = false;
      for (const s of sockets) s.drop();
      sockets.length = 0;
      send({ type: 'ack', id: command.id });
      break;
  }
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
