import type { Config } from '../../shared/config.js';
import { uWS } from '../uws.js';

/**
 * permessage-deflate for both WebSocket endpoints, negotiated only with clients that offer it.
 * The shared compressor keeps no per-socket window (zero memory a socket) and lets uWS compress a
 * topic publish once for all its compressing subscribers. A dedicated compressor is uWS's
 * per-socket one (32 KB a socket, each frame compressed per socket); it is meant to keep a window
 * across frames, but the uWS build this project runs on (v20.30) deflates every frame on its own
 * all the same — identical frames do not shrink (bench S6) — so it buys nothing here yet.
 */
export function compressionOf(config: Config): number {
  switch (config.gateway.compression) {
    case 'off':
      return uWS.DISABLED;
    case 'dedicated':
      return uWS.DEDICATED_COMPRESSOR_32KB;
    default:
      return uWS.SHARED_COMPRESSOR;
  }
}

/**
 * What both WebSocket endpoints share: compression, the idle timeout (uWS pings for us), and the
 * backpressure limit past which uWS drops a slow consumer, who then resumes from its last seq.
 */
export function streamSocketOptions(config: Config) {
  return {
    compression: compressionOf(config),
    idleTimeout: config.gateway.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    maxBackpressure: config.gateway.maxBackpressureBytes,
    closeOnBackpressureLimit: 1,
  } as const;
}
