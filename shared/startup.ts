import { checkGatewayConfig, ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './logger.js';

/**
 * Parses the configuration of a service about to start; on invalid configuration logs one clear
 * message naming every bad variable and exits non-zero.
 */
export function loadConfigOrExit(service: string): Config {
  try {
    const config = loadConfig();
    if (service === 'gateway') checkGatewayConfig(config);
    return config;
  } catch (error) {
    if (error instanceof ConfigError) {
      createLogger(service, 'info').fatal({ code: error.code, problems: error.problems }, error.message);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
}
