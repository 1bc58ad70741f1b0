import { renderProgressBar } from './progress-bar.js';

export interface OutputStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

const CLEAR_LINE = '\r\x1b[2K';

/**
 * The CLI's screen. On a terminal the progress bar stays on the bottom line and event lines
 * scroll above it; elsewhere (a pipe, a file, CI logs) only plain lines are written, so the output
 * stays greppable and free of control codes.
 */
export class LiveOutput {
  private bar: string | null = null;

  constructor(
    private readonly out: OutputStream,
    private readonly err: OutputStream,
  ) {}

  private get live(): boolean {
    return this.out.isTTY === true;
  }

  /** An event line, on stdout. */
  line(text: string): void {
    this.write(this.out, text);
  }

  /** A remark about the connection (reconnecting, refused), on stderr. */
  note(text: string): void {
    this.write(this.err, text);
  }

  progress(percent: number | null, results: number): void {
    if (!this.live) return;
    this.bar = `${renderProgressBar(percent)}  ${results} results`;
    this.out.write(`${CLEAR_LINE}${this.bar}`);
  }

  /** Leaves the last bar on screen as an ordinary line. */
  finish(): void {
    if (this.live && this.bar !== null) this.out.write('\n');
    this.bar = null;
  }

  private write(stream: OutputStream, text: string): void {
    if (this.live && this.bar !== null) {
      this.out.write(CLEAR_LINE);
      stream.write(`${text}\n`);
      this.out.write(this.bar);
      return;
    }
    stream.write(`${text}\n`);
  }
}
