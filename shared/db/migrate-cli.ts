import { DependencyUnavailableError, EXIT_DEPENDENCY_UNAVAILABLE, postgresDependency, waitForDependencies } from '../dependencies.js';
import { createServiceLogger, loadConfigOrExit } from '../startup.js';
import { createDatabase } from './database.js';
import { migrateToLatest } from './migrate.js';

/** `npm run migrate`: waits for Postgres (as the services do), applies every pending migration and exits. */
const config = loadConfigOrExit("migrate");
const log = createServiceLogger('migrate', config);
try {
  await waitForDependencies([postgresDependency(config.databaseUrl)], config.startupTimeoutSeconds, log);
} catch (error) {
  if (!(error instanceof DependencyUnavailableError)) throw error;
  log.fatal({ code: error.code, missing: error.missing }, `postgres unavailable: ${error.message}`);
  process.exit(EXIT_DEPENDENCY_UNAVAILABLE);
}
const db = createDatabase(config.databaseUrl, 1);
try {
  const applied = await migrateToLatest(db);
  log.info({ applied }, applied.length ? 'migrations applied' : 'schema already up to date');
} catch (error) {
  log.fatal({ reason: error instanceof Error ? error.message : String(error) }, 'migration failed');
  process.exitCode = 1;
} finally {
  await db.destroy();
}
