import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Logger } from '../../shared/logger.js';
import type { TemplatedApp } from '../uws.js';
import { reply, sendBody } from './responses.js';
import { PAGE_SECURITY_HEADERS } from './static.routes.js';

/** Where the dashboard page imports the client SDK from. */
export const CLIENT_SCRIPT_PATH = '/client/job-stream.js';

interface ClientBundle {
  code: Buffer;
  gzipped: Buffer;
}

/**
 * GET /client/job-stream.js: the browser build of the client SDK (shared/client/job-stream), so
 * the dashboard follows a job with exactly the code the CLI uses (reconnect, resume, dedup, the
 * shared zod schema) while the page itself needs no build step.
 *
 * Bundled on first request with esbuild, which is there at run time because tsx, which the
 * services run on, depends on it. Its source is whichever sits next to this module: the .ts under
 * `npm run start:gateway`, tsc's .js under `node dist/…`. A bundle rather than tsc's output
 * because the SDK imports the shared schema and zod, which a browser cannot resolve without an
 * import map. Lazy so that gateways nobody opens the page on spend nothing on it; gzipped once
 * because zod makes it ~450 kB (~95 kB compressed).
 */
export function registerClientScriptRoute(app: TemplatedApp, log: Logger): void {
  let bundle: Promise<ClientBundle | null> | undefined;
  app.get(CLIENT_SCRIPT_PATH, (res, req) => {
    const r = reply(res);
    const acceptsGzip = /\bgzip\b/i.test(req.getHeader('accept-encoding'));
    bundle ??= bundleClient().catch((error: unknown) => {
      // Kept as failed: a broken build does not mend itself until the gateway is redeployed.
      log.error({ err: error }, 'could not bundle the client SDK for the dashboard');
      return null;
    });
    void bundle.then((b) => {
      if (!b) {
        sendBody(r, 503, 'text/plain; charset=utf-8', 'the client SDK could not be built on this gateway; see its log');
        return;
      }
      const headers: Record<string, string> = { 'Cache-Control': 'no-cache', Vary: 'Accept-Encoding', ...PAGE_SECURITY_HEADERS };
      if (acceptsGzip) headers['Content-Encoding'] = 'gzip';
      sendBody(r, 200, 'text/javascript; charset=utf-8', acceptsGzip ? b.gzipped : b.code, { headers });
    });
  });
}

async function bundleClient(): Promise<ClientBundle> {
  const entry = ['ts', 'js']
    .map((ext) => fileURLToPath(new URL(`../../shared/client/job-stream.${ext}`, import.meta.url)))
    .find((path) => existsSync(path));
  if (!entry) throw new Error('shared/client/job-stream is not part of this build');
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('esbuild produced no output');
  const code = Buffer.from(file.contents);
  return { code, gzipped: await promisify(gzip)(code) };
}
