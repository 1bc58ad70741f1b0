import type { Readable, Writable } from 'node:stream';

const COLOURS = ['\x1b[36m', '\x1b[35m', '\x1b[33m'];
const RESET = '\x1b[0m';

/**
 * Copies a child's output to ours line by line, each line behind the child's name ("gateway │ "),
 * so two services can share one terminal and still be told apart.
 */
export function pipePrefixed(from: Readable, to: Writable, name: string, index: number, colour: boolean, onLine?: (line: string) => void): void {
  const label = name.padEnd(7);
  const prefix = colour ? `${COLOURS[index % COLOURS.length]}${label}${RESET} │ ` : `${label} │ `;
  let pending = '';
  from.setEncoding('utf8');
  from.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      to.write(`${prefix}${line}\n`);
      onLine?.(line);
    }
  });
  from.on('end', () => {
    if (pending) to.write(`${prefix}${pending}\n`);
  });
}
