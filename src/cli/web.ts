/**
 * `hmmsim web`: serves the visual explorer (the static build in dist/web) on 127.0.0.1, or the
 * Vite dev server with live reload (`--dev`). The URL is the first line of standard output so
 * scripts and tests can read it (`--port 0` picks a free port).
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliUsageError } from './args.ts';
import { type CommandContext, EXIT_FAILED, EXIT_OK } from './context.ts';

/** The repository root (src/cli/ is two levels below it). */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Where `npm run build:web` writes the page. */
export const WEB_DIST = path.join(ROOT, 'dist', 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
};

/** A running server. */
export interface WebServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves the files of `dir` on `host:port` (port 0: any free one). Paths outside `dir` are
 * refused; `/` and unknown paths without an extension get index.html (the page reads its own
 * query string).
 */
export function serveStatic(dir: string, host: string, port: number): Promise<WebServer> {
  const root = path.resolve(dir);
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname);
    } catch {
      res.writeHead(400).end('bad path');
      return;
    }
    let file = path.resolve(root, `.${rel}`);
    if (file !== root && !file.startsWith(root + path.sep)) {
      res.writeHead(403).end('forbidden');
      return;
    }
    if (rel.endsWith('/') || (!path.extname(file) && !existsSync(file))) file = path.join(root, 'index.html');
    if (!existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const ext = path.extname(file);
    res.writeHead(200, {
      'content-type': TYPES[ext] ?? 'application/octet-stream',
      'cache-control': ext === '.html' ? 'no-store' : 'public, max-age=3600',
      'x-content-type-options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : readFileSync(file));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address();
      const p = typeof a === 'object' && a ? a.port : port;
      resolve({
        url: `http://${host}:${p}/`,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}

/** Opens `url` in the desktop's browser, if there is one (errors are ignored: the URL is printed). */
function openBrowser(url: string): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    spawn(cmd, [url], { stdio: 'ignore', detached: true })
      .on('error', () => {})
      .unref();
  } catch {
    // No opener: the printed URL is enough.
  }
}

/** Resolves on SIGINT or SIGTERM. */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

/** `hmmsim web [--port N] [--open] [--dev]`. */
export async function runWeb(ctx: CommandContext): Promise<number> {
  const port = (ctx.options.port as number | undefined) ?? 5178;
  if (port > 65535) throw new CliUsageError(`--port must be at most 65535, got ${port}`, 'web');
  const host = '127.0.0.1';
  let server: WebServer;
  if (ctx.options.dev) {
    let vite: typeof import('vite');
    try {
      vite = await import('vite');
    } catch {
      ctx.io.err(
        'hmmsim web: --dev needs the dev dependencies (vite): run "npm ci" in the hmmsim checkout\n',
      );
      return EXIT_FAILED;
    }
    const dev = await vite.createServer({
      configFile: path.join(ROOT, 'web', 'vite.config.ts'),
      server: { host, port, strictPort: port !== 0 },
      logLevel: 'warn',
    });
    await dev.listen();
    const url = dev.resolvedUrls?.local[0] ?? `http://${host}:${port}/`;
    server = { url, close: () => dev.close() };
  } else {
    if (!existsSync(path.join(WEB_DIST, 'index.html'))) {
      ctx.io.err(
        `hmmsim web: ${path.relative(ctx.io.cwd, WEB_DIST) || WEB_DIST} has no build; run "npm run build:web" first (or use --dev)\n`,
      );
      return EXIT_FAILED;
    }
    try {
      server = await serveStatic(WEB_DIST, host, port);
    } catch (e) {
      throw new CliUsageError(`cannot listen on ${host}:${port}: ${(e as Error).message}`, 'web');
    }
  }
  ctx.io.out(`${server.url}\n`);
  ctx.io.err(`hmmsim web: serving the visual explorer on ${server.url} (loopback only); Ctrl+C stops it\n`);
  if (ctx.options.open) openBrowser(server.url);
  await untilSignal();
  await server.close();
  return EXIT_OK;
}
