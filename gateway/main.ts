import { createServiceLogger, loadConfigOrExit, waitForDependenciesOrExit } from '../shared/startup.js';
import { startGatewayApp, type GatewayApp } from './gateway-app.js';

/** Gateway process: config, dependencies, the app; SIGTERM/SIGINT drain and exit 0. */
const config = loadConfigOrExit('gateway');
const log = createServiceLogger('gateway', config, { gatewayId: config.gateway.id });

process.on('unhandledRejection', (reason) => {
  log.fatal({ err: reason }, 'unhandled rejection');
  process.exit(1);
});

await waitForDependenciesOrExit(config, log);

let gateway: GatewayApp;
try {
  gateway = await startGatewayApp(config, log);
} catch (error) {
  log.fatal({ err: error }, 'gateway failed to start');
  process.exit(1);
}

const shutdown = (signal: NodeJS.Signals) => {
  // A second signal changes nothing: the drain already under way finishes.
  gateway.close(signal).then(
    () => process.exit(0),
    (error: unknown) => {
      log.error({ err: error }, 'gateway did not stop cleanly');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
