import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { transformSync } from 'esbuild';

/** Sources the servers need: the services, their shared code, and the bench's peer servers. */
const SOURCE_DIRS = ['shared', 'gateway', 'worker', 'test/bench/peers', 'test/bench/lib'];

/**
 * Compiles the services from the current sources to plain JavaScript under `outDir` (mirroring
 * the tree, so relative imports, Lua scripts and public/ files resolve as in dist/), one file at a
 * time like tsc with isolatedModules. The servers then run as in production (`node
 * dist/gateway/main.js`), not under tsx: tsx's esbuild keeps function names by defining `name` on
 * every function it creates, which gives each closure made per connection a property store of its
 * own — hundreds of bytes a socket that production does not pay.
 */
export function buildServices(root: string, outDir: string): { files: number; ms: number } {
  const started = Date.now();
  rmSync(outDir, { recursive: true, force: true });
  let files = 0;
  for (const dir of SOURCE_DIRS) {
    for (const path of walk(join(root, dir))) {
      const rel = relative(root, path);
      const target = join(outDir, rel);
      mkdirSync(dirname(target), { recursive: true });
      if (path.endsWith('.ts') && !path.endsWith('.d.ts')) {
        const { code } = transformSync(readFileSync(path, 'utf8'), {
          loader: 'ts',
          format: 'esm',
          target: 'node20',
          sourcefile: rel,
          tsconfigRaw: { compilerOptions: { useDefineForClassFields: true, verbatimModuleSyntax: false } },
        });
        writeFileSync(target.replace(/\.ts$/, '.js'), code);
        files += 1;
      } else {
        copyFileSync(path, target);
      }
    }
  }
  // Marks the tree as ES modules, as the project's package.json does.
  writeFileSync(join(outDir, 'package.json'), '{"type":"module"}\n');
  return { files, ms: Date.now() - started };
}

function* walk(dir: string): Generator<string> {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}
