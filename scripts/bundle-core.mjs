#!/usr/bin/env node
// Bundles the simulation core for the browser (esbuild, platform=browser) and fails on any Node
// built-in it reaches: the core must run unchanged in a browser worker. Importable
// (`bundleCore()`, used by test/architecture/browser-bundle.test.ts and the web page's build) or
// run as `node scripts/bundle-core.mjs [entry] [--outfile FILE]`.
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/**
 * Bundles `entry` (default src/index.ts) as one browser ES module (or `format: 'iife'` with a
 * `globalName`). Resolves to
 * `{ code, bytes, nodeImports }`: the bundle's text (unless `outfile` is given, then it is
 * written there), its size, and every Node built-in the entry's module graph imports, with the
 * importing file (an empty list when the core is browser-ready).
 */
export async function bundleCore({
  entry = path.join(ROOT, 'src/index.ts'),
  outfile,
  minify = true,
  format = 'esm',
  globalName,
} = {}) {
  const nodeImports = [];
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format,
    ...(globalName === undefined ? {} : { globalName }),
    target: 'es2022',
    minify,
    write: outfile !== undefined,
    ...(outfile === undefined ? { outdir: path.join(ROOT, 'dist-browser') } : { outfile }),
    logLevel: 'silent',
    plugins: [
      {
        name: 'no-node-builtins',
        setup(b) {
          b.onResolve({ filter: /.*/ }, (args) => {
            if (!BUILTINS.has(args.path)) return undefined;
            nodeImports.push({ module: args.path, importer: path.relative(ROOT, args.importer) });
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  const code = outfile === undefined ? result.outputFiles[0].text : '';
  const bytes = outfile === undefined ? result.outputFiles[0].contents.length : 0;
  return { code, bytes, nodeImports };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const o = args.indexOf('--outfile');
  const outfile = o >= 0 ? path.resolve(args[o + 1]) : undefined;
  const entry = args.find((a, i) => !a.startsWith('--') && (o < 0 || i !== o + 1));
  const r = await bundleCore({ ...(entry ? { entry: path.resolve(entry) } : {}), outfile });
  if (r.nodeImports.length > 0) {
    for (const n of r.nodeImports) console.error(`${n.importer} imports the Node built-in ${n.module}`);
    console.error('the core is not browser-ready');
    process.exitCode = 1;
  } else {
    console.log(
      outfile
        ? `wrote ${path.relative(process.cwd(), outfile)}`
        : `browser bundle: ${r.bytes} bytes, no Node built-ins`,
    );
  }
}
