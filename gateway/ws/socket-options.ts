import type { Config } from '../../shared/config.js';
import { uWS } from '../uws.js';

/**
 * permessage-deflate for both WebSocket endpoints, negotiated only with clients that offer it.
 * The shared compressor keeps no per-socket window (zero memory a socket) and lets uWS compress a
 * topic publish once for all its compressing subscribers; dedicated windows compress repeated
 * fields across frames better at 32 KB a socket.
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
