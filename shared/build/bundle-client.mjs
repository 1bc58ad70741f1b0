// Bundles the client SDK (shared/client/job-stream) for browsers: the dashboard follows a job with
// exactly the code the CLI uses (reconnect, resume, dedupe, the shared zod schema). A bundle rather
// than tsc's output because the SDK imports the shared schema and zod, which a browser cannot
// resolve without an import map; gzipped once because zod makes it ~450 kB (~95 kB compressed).
//
// `npm run build` runs this file to write the bundle into dist/ beside the dashboard page, so the
// production image needs no bundler; under `npm run start:gateway` (no dist/) the gateway imports
// `bundleClientSdk` and bundles on first request instead.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Where the built bundle lives, relative to the gateway's compiled http/ folder. */
export const BUNDLE_FILE = 'public/client/job-stream.js';

/** The browser bundle and its gzipped copy. */
export async function bundleClientSdk() {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [join(root, 'shared/client/browser-sdk.ts')],
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
  return { code, gzipped: gzipSync(code) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = join(root, 'dist/gateway', BUNDLE_FILE);
  const { code, gzipped } = await bundleClientSdk();
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, code);
  writeFileSync(`${target}.gz`, gzipped);
  console.log(`bundle-client: ${relative(process.cwd(), target)} (${code.length} bytes, ${gzipped.length} gzipped)`);
}
