import { loadConfigOrExit } from '../startup.js';
import { createLogger } from '../logger.js';
import { createDatabase } from './database.js';
import { migrateToLatest } from './migrate.js';

/** `npm run migrate`: applies every pending migration and exits. */
const config = loadConfigOrExit("migrate");
const log = createLogger('migrate', config.logLevel);
const db = createDatabase(config.databaseUrl, 1);
try {
  const applied = await migrateToLatest(db);
  log.info({ applied }, applied.length ? 'migrations applied' : 'schema already up to date');
} catch (error) {
  log.fatal({ err: error }, 'migration failed');
  process.exitCode = 1;
} finally {
  await db.destroy();
}
