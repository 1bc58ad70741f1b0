import { readFile } from 'node:fs/promises';
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

/** The bundle `npm run build` writes beside the compiled gateway (shared/build/bundle-client.mjs). */
const BUILT_BUNDLE = new URL('../public/client/job-stream.js', import.meta.url);

/**
 * GET /client/job-stream.js: the browser build of the client SDK, so the dashboard runs exactly
 * the code the CLI uses while the page itself needs no build step of its own.
 *
 * A production build (`node dist/…`) serves the bundle made at build time: no bundler in the
 * image. From the sources (`npm run start:gateway`, tests) there is none, so the gateway bundles
 * on first request with the same build script, which needs esbuild from the dev dependencies.
 * Lazy either way: gateways nobody opens the page on spend nothing on it.
 */
export function registerClientScriptRoute(app: TemplatedApp, log: Logger): void {
  let bundle: Promise<ClientBundle | null> | undefined;
  app.get(CLIENT_SCRIPT_PATH, (res, req) => {
    const r = reply(res);
    const acceptsGzip = /\bgzip\b/i.test(req.getHeader('accept-encoding'));
    bundle ??= loadBundle().catch((error: unknown) => {
      // Kept as failed: a broken build does not mend itself until the gateway is redeployed.
      log.error({ err: error }, 'no client SDK bundle for the dashboard on this gateway');
      return null;
    });
    void bundle.then((b) => {
      if (!b) {
        sendBody(r, 503, 'text/plain; charset=utf-8', 'the client SDK is not available on this gateway; see its log');
        return;
      }
      const headers: Record<string, string> = { 'Cache-Control': 'no-cache', Vary: 'Accept-Encoding', ...PAGE_SECURITY_HEADERS };
      if (acceptsGzip) headers['Content-Encoding'] = 'gzip';
      sendBody(r, 200, 'text/javascript; charset=utf-8', acceptsGzip ? b.gzipped : b.code, { headers });
    });
  });
}

async function loadBundle(): Promise<ClientBundle> {
  try {
    const [code, gzipped] = await Promise.all([readFile(BUILT_BUNDLE), readFile(new URL(`${BUILT_BUNDLE.href}.gz`))]);
    return { code, gzipped };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  // Running from the sources: bundle now with the build script (a development dependency).
  const script = new URL('../../shared/build/bundle-client.mjs', import.meta.url);
  const { bundleClientSdk } = (await import(script.href)) as { bundleClientSdk: () => Promise<ClientBundle> };
  return bundleClientSdk();
}
