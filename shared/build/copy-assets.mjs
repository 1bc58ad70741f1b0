// Copies the files the compiled services read at run time, which tsc does not emit, into dist/
// beside the JavaScript that reads them: Lua scripts (shared/redis/*.lua, loaded relative to
// scripts.js) and each service's public/ folder (the dashboard page). Plain Node, no dependencies,
// so `npm run build` works the same on a developer machine and in the Docker build stage.
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const outDir = join(root, 'dist');
const sourceDirs = ['shared', 'worker', 'gateway'];

/** A run-time asset: a Lua script anywhere, or anything inside a folder named public. */
const isAsset = (path) => path.endsWith('.lua') || path.split(/[\\/]/).includes('public');

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.isFile()) yield path;
  }
}

let copied = 0;
for (const dir of sourceDirs) {
  const from = join(root, dir);
  if (!existsSync(from)) continue;
  for (const path of files(from)) {
    const rel = relative(root, path);
    if (!isAsset(rel)) continue;
    cpSync(path, join(outDir, rel));
    copied += 1;
  }
}
console.log(`copy-assets: ${copied} file(s) copied into ${relative(process.cwd(), outDir) || '.'}`);
