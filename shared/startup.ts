import { ConfigError, loadConfig, type Config } from './config.js';
import { DependencyUnavailableError, EXIT_DEPENDENCY_UNAVAILABLE, postgresDependency, redisDependency, waitForDependencies } from './dependencies.js';
import { createLogger, type Logger } from './logger.js';

/**
 * Parses the configuration of a service about to start; on invalid configuration logs one clear
 * message naming every bad variable and exits non-zero.
 */
export function loadConfigOrExit(service: string): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      createLogger(service, 'info').fatal({ code: error.code, problems: error.problems }, error.message);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
}

/** The root logger of a service, as configured (level, and JSON or readable lines). */
export function createServiceLogger(service: string, config: Config, bindings: Record<string, unknown> = {}): Logger {
  return createLogger(service, config.logLevel, bindings, config.logFormat);
}

/**
 * Waits for Redis and Postgres (one log line per failed attempt); after STARTUP_TIMEOUT_SECONDS
 * logs one line naming what is missing and exits 69 (EX_UNAVAILABLE). Called before the service
 * opens its own connections, which would otherwise retry forever and say little.
 */
export async function waitForDependenciesOrExit(config: Config, log: Logger): Promise<void> {
  try {
    await waitForDependencies([redisDependency(config.redisUrl), postgresDependency(config.databaseUrl)], config.startupTimeoutSeconds, log);
  } catch (error) {
    if (error instanceof DependencyUnavailableError) {
      log.fatal({ code: error.code, missing: error.missing }, `${error.missing.join(' and ')} unavailable: ${error.message}`);
      process.exit(EXIT_DEPENDENCY_UNAVAILABLE);
    }
    throw error;
  }
}
