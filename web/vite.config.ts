/**
 * Vite configuration of the visual explorer: the app lives in web/, imports the simulator from
 * ../src unchanged, and builds to dist/web (static files any http server can host).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Starts the simulation worker, and its recording of the example the URL names, from a small
 * inline script at the top of the built page: the worker then loads while the page's own modules
 * and styles do, instead of after them (the store adopts it; see `SimClient` in src/store.ts).
 * The dev server has no such script; the page then starts the worker itself.
 */
function startWorkerEarly(): Plugin {
  return {
    name: 'hmmsim-start-worker-early',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler(_html, ctx) {
        const file = Object.keys(ctx.bundle ?? {}).find((f) => /(^|\/)sim\.worker-[^/]*\.js$/.test(f));
        if (!file) throw new Error('hmmsim-start-worker-early: no sim.worker chunk in the bundle');
        const script = `(function () {
  try {
    var q = new URLSearchParams(location.search);
    if (q.has('token') || q.has('share') || q.has('workload')) return;
    var name = q.get('scenario') || 'migrate';
    performance.mark('hmmsim:worker-start');
    var w = new Worker(${JSON.stringify(`./${file}`)}, { type: 'module' });
    var early = { worker: w, name: name, replies: [], failed: null };
    w.onmessage = function (e) { early.replies.push(e.data); };
    w.onerror = function (e) { early.failed = e.message || 'worker error'; };
    // The step ends first (painted at once), unless the URL names a row between them.
    w.postMessage({ id: 0, kind: 'record-example', name: name, first: !q.has('at') });
    window.__hmmsimEarly = early;
  } catch (e) {}
})();`;
        return [{ tag: 'script', children: script, injectTo: 'head-prepend' }];
      },
    },
  };
}

export default defineConfig({
  root,
  base: './',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1024,
  },
  plugins: [startWorkerEarly()],
  worker: { format: 'es' },
  server: { host: '127.0.0.1', fs: { allow: [fileURLToPath(new URL('..', import.meta.url))] } },
});
