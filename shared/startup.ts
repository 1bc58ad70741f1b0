import { checkGatewayConfig, ConfigError, loadConfig, type Config } from './config.js';
import { DependencyUnavailableError, EXIT_DEPENDENCY_UNAVAILABLE, postgresDependency, redisDependency, waitForDependencies, type Dependency } from './dependencies.js';
import { createLogger, type Logger } from './logger.js';

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
    await waitForDependencies([redisOf(config), postgresDependency(config.databaseUrl)], config.startupTimeoutSeconds, log);
  } catch (error) {
    if (error instanceof DependencyUnavailableError) {
      log.fatal({ code: error.code, missing: error.missing }, `${error.missing.join(' and ')} unavailable: ${error.message}`);
      process.exit(EXIT_DEPENDENCY_UNAVAILABLE);
    }
    throw error;
  }
}

/** The Redis a service needs: the single one, or on a cluster any one of its seeds that answers. */
function redisOf(config: Config): Dependency {
  if (!config.redisCluster) return redisDependency(config.redisUrl);
  const seeds = config.redisCluster.nodes.map((node) => redisDependency(`redis://${node.host}:${node.port}`));
  return {
    ...seeds[0]!,
    url: config.redisCluster.nodes.map((node) => `${node.host}:${node.port}`).join(','),
    variable: 'REDIS_CLUSTER_NODES',
    async probe() {
      let lastError: unknown;
      for (const seed of seeds) {
        try {
          return await seed.probe();
        } catch (error) {
          lastError = error;
        }
      }
      throw lastError;
    },
  };
}
