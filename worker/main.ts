import { createServiceLogger, loadConfigOrExit, waitForDependenciesOrExit } from '../shared/startup.js';
import { startWorkerApp, type WorkerApp } from './worker-app.js';

/** Worker process: config, migrations, BullMQ worker; SIGTERM/SIGINT drain and exit 0. */
const config = loadConfigOrExit('worker');
const log = createServiceLogger('worker', config);

process.on('unhandledRejection', (reason) => {
  log.fatal({ err: reason }, 'unhandled rejection');
  process.exit(1);
});

await waitForDependenciesOrExit(config, log);

let worker: WorkerApp;
try {
  worker = await startWorkerApp(config, log);
} catch (error) {
  log.fatal({ err: error }, 'worker failed to start');
  process.exit(1);
}

// Test helpers and operators wait for exactly this message.
log.info(
  { workerId: worker.id, metricsPort: worker.metricsPort, queue: config.queueName, concurrency: config.worker.concurrency, scrapers: config.worker.scrapers },
  'worker ready',
);

let stopping = false;
const shutdown = (signal: NodeJS.Signals) => {
  // A second signal changes nothing: active jobs still finish (SIGKILL is the way to not wait).
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'worker stopping: finishing active jobs');
  worker.close().then(
    () => {
      log.info('worker stopped');
      process.exit(0);
    },
    (error: unknown) => {
      log.error({ err: error }, 'worker did not stop cleanly');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
