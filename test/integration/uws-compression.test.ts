import { constants, createDeflateRaw, deflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { uWS } from '../../gateway/uws.js';

/**
 * What permessage-deflate can do for our events with the uWS build this project runs on (README,
 * bench S6): every frame is compressed on its own, with the shared compressor by design and with a
 * dedicated (per-socket) compressor too, so identical frames do not shrink. Should a uWS upgrade
 * keep the dedicated window across frames, this test fails, and WS_COMPRESSION=dedicated (with the
 * README's bytes-per-event paragraph) is worth measuring again.
 */
const EVENT = JSON.stringify({
  job_id: 12,
  seq: 5,
  event_type: 'job_progress',
  status: 'running',
  progress: 5,
  results_count: 15,
  message: 'Searching MUC-BCN on sim-kiwi: 5% of tasks done',
  metadata: { epoch: '1795995860213123', emitted_at_us: 123461674, scraper: 'sim-kiwi', route: 'MUC-BCN', task: 5 },
  timestamp: '2026-11-29T23:59:00.123Z',
});
const FRAMES = 50;

const listening: unknown[] = [];
afterAll(() => listening.forEach((token) => uWS.us_listen_socket_close(token as never)));

/** Wire bytes per frame a permessage-deflate client reads for FRAMES identical frames. */
async function bytesPerFrame(compression: number): Promise<{ bytes: number; extensions: string }> {
  let socket: { send(m: string, binary: boolean, compress: boolean): number } | null = null;
  const app = uWS.App().ws('/*', { compression, open: (ws) => void (socket = ws) });
  const port = await new Promise<number>((resolve) =>
    app.listen('127.0.0.1', 0, (token) => {
      listening.push(token);
      resolve(uWS.us_socket_local_port(token));
    }),
  );
  const client = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: true });
  let extensions = '';
  client.on('upgrade', (res) => void (extensions = String(res.headers['sec-websocket-extensions'] ?? '')));
  let received = 0;
  client.on('message', () => void (received += 1));
  await new Promise((resolve) => client.once('open', resolve));
  await expect.poll(() => socket).not.toBeNull();
  const before = (client as unknown as { _socket: { bytesRead: number } })._socket.bytesRead;
  for (let i = 0; i < FRAMES; i++) socket!.send(EVENT, false, true);
  await expect.poll(() => received).toBe(FRAMES);
  const bytes = ((client as unknown as { _socket: { bytesRead: number } })._socket.bytesRead - before) / FRAMES;
  client.terminate();
  return { bytes, extensions };
}

describe('permessage-deflate on this uWS build', () => {
  it('compresses each frame on its own, shared or dedicated; a window kept across frames would take them under 60 %', async () => {
    const alone = deflateRawSync(EVENT, { flush: constants.Z_SYNC_FLUSH }).length - 4 + 2; // frame header, no trailer
    const shared = await bytesPerFrame(uWS.SHARED_COMPRESSOR);
    const dedicated = await bytesPerFrame(uWS.DEDICATED_COMPRESSOR_32KB);
    expect(shared.extensions).toContain('server_no_context_takeover');
    // The dedicated compressor promises a window (no server_no_context_takeover)…
    expect(dedicated.extensions).toContain('permessage-deflate');
    expect(dedicated.extensions).not.toContain('server_no_context_takeover');
    // …but every identical frame costs what one frame alone does.
    for (const { bytes } of [shared, dedicated]) {
      expect(bytes).toBeGreaterThan(alone * 0.9);
      expect(bytes).toBeLessThan(EVENT.length);
    }
    // zlib with a window kept across the same frames: a small fraction of the JSON.
    const z = createDeflateRaw({ windowBits: 12 });
    let windowed = 0;
    for (let i = 0; i < FRAMES; i++) {
      z.write(EVENT);
      windowed += await new Promise<number>((resolve) => {
        const chunks: Buffer[] = [];
        const onData = (c: Buffer) => chunks.push(c);
        z.on('data', onData);
        z.flush(constants.Z_SYNC_FLUSH, () => {
          z.off('data', onData);
          resolve(Buffer.concat(chunks).length - 4 + 2);
        });
      });
    }
    z.close();
    expect(windowed / FRAMES).toBeLessThan(EVENT.length * 0.6);
  });
});
