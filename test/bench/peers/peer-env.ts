import { z } from 'zod';

/** What every peer server takes from its environment (the bench sets it). */
const peerEnvSchema = z.object({
  REDIS_URL: z.string().min(1),
  KEY_PREFIX: z.string().min(1),
  PORT: z.coerce.number().int().min(0).max(65535),
  /** uWS peers: share the port with other processes (SO_REUSEPORT). */
  LISTEN_EXCLUSIVE_PORT: z.enum(['true', 'false']).default('true'),
  WS_MAX_BACKPRESSURE_BYTES: z.coerce.number().int().positive().default(1024 * 1024),
});

export type PeerEnv = z.infer<typeof peerEnvSchema>;

export function peerEnv(): PeerEnv {
  return peerEnvSchema.parse(process.env);
}
