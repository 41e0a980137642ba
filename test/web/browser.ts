/**
 * Shared set-up of the browser tests: Debian's Chromium driven by playwright-core (never a
 * downloaded browser), the built page served on 127.0.0.1 by `hmmsim web`'s own static server.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page, type Worker } from 'playwright-core';
import { serveStatic, WEB_DIST, type WebServer } from '../../src/cli/web.ts';

/** The browser the tests drive: $CHROMIUM_PATH, else Debian's /usr/bin/chromium. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags for a quiet, sandbox-less headless run (the CI runs as root). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Fails (never skips) with how to get what is missing. */
export function requireBrowserAndBuild(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: install Debian's with "apt-get update && apt-get install -y chromium" (or set CHROMIUM_PATH)`,
    );
  }
  if (!existsSync(path.join(WEB_DIST, 'index.html')))
    throw new Error(`no page build in ${WEB_DIST}: run "npm run build:web" first`);
}

/** A browser with a fresh profile and the page's server. */
export interface Session {
  readonly ctx: BrowserContext;
  readonly server: WebServer;
  readonly errors: string[];
  open(query: string): Promise<Page>;
  close(): Promise<void>;
}

/** Starts the server and the browser; pages opened through it record console errors into `errors`. */
export async function startSession(viewport = { width: 1500, height: 1000 }): Promise<Session> {
  requireBrowserAndBuild();
  const server = await serveStatic(WEB_DIST, '127.0.0.1', 0);
  const profile = mkdtempSync(path.join(tmpdir(), 'hmmsim-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    deviceScaleFactor: 1,
  });
  const errors: string[] = [];
  return {
    ctx,
    server,
    errors,
    async open(query: string) {
      const page = await ctx.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      await page.goto(`${server.url}${query}`);
      await page.waitForFunction(() => window.__hmmsim?.ready === true, null, { timeout: 120_000 });
      return page;
    },
    async close() {
      await ctx.close();
      await server.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The page's `#state` summary. */
export async function pageState(page: Page): Promise<unknown> {
  return JSON.parse((await page.textContent('#state')) ?? 'null');
}

/** Runs the built `hmmsim …` and resolves to its output (exit code checked by the caller). */
export function hmmsim(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const root = path.resolve(import.meta.dirname, '../..');
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(root, 'bin/hmmsim.mjs'), ...args], { cwd: root });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

/** The pool workers the page starts, and how many of them are still alive. */
export function watchPoolWorkers(page: Page): { started: () => number; alive: () => number } {
  const live = new Set<Worker>();
  let started = 0;
  page.on('worker', (w) => {
    if (!w.url().includes('explore-pool.worker')) return;
    started++;
    live.add(w);
    w.on('close', () => live.delete(w));
  });
  return { started: () => started, alive: () => live.size };
}
