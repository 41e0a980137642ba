/**
 * Entry point: mounts the page, opens what the URL names (`?scenario=NAME&step=N|end`,
 * `&at=ROW`, `?share=…` a shared scenario, `?token=hx1…`, or `?workload=NAME` an example
 * workload, run), wires the keys, and exposes `window.__hmmsim` for tests.
 * @module
 */
import { effect } from '@preact/signals';
import { render } from 'preact';
import { EXAMPLES } from './examples.ts';
import { warmFonts } from './render/warm-fonts.ts';
import {
  cursor,
  firstShown,
  mode,
  pageReady,
  partial,
  playing,
  recording,
  runExample,
  runShared,
  runToken,
  seek,
  seekState,
  selected,
  stepBy,
  stepOnce,
  summary,
} from './store.ts';
import './style.css';

declare global {
  interface Window {
    /** Test and automation hook: readiness and a few handles. */
    __hmmsim: {
      /** True once what the URL names is fully loaded (the full recording, not only its step ends). */
      ready: boolean;
      /**
       * When the frame showing the first maps was produced — its style, layout, paint and commit
       * done (page clock, ms from navigation start; 0 until then).
       */
      firstRenderMs: number;
      /** Whether the page shows a recording's first answer (step ends only) for now. */
      partial: () => boolean;
      seek: (n: number) => void;
      cursor: () => number;
      rows: () => number;
      summary: () => unknown;
      /** The selected flat page index (-1: none). */
      selected: () => number;
      /** The in-page measurements of `npm run bench:web`, loaded on demand. */
      bench: () => Promise<typeof import('./bench.ts')>;
    };
  }
}

window.__hmmsim = {
  ready: false,
  firstRenderMs: 0,
  partial: () => partial.value,
  seek,
  cursor: () => cursor.value,
  rows: () => recording.value?.rows.length ?? 0,
  summary: () => summary.value,
  selected: () => selected.value,
  bench: () => import('./bench.ts'),
};

async function open(): Promise<void> {
  const q = new URLSearchParams(location.search);
  const token = q.get('token');
  const stepText = q.get('step');
  const atText = q.get('at');
  const step: number | 'end' =
    stepText === null || stepText === 'end' ? 'end' : Math.max(0, Number.parseInt(stepText, 10) || 0);
  const share = q.get('share');
  const workload = q.get('workload');
  if (workload !== null) {
    mode.value = 'workload';
    const { loadWorkload, runWorkloadInPage, workloadText } = await import('./workload-store.ts');
    if (loadWorkload(workload)) await runWorkloadInPage(workloadText.value, workload);
  } else if (token) {
    mode.value = 'race';
    await runToken(token, atText === null ? undefined : Number(atText));
  } else if (share !== null) {
    await runShared(share, atText === null ? { step } : Number(atText));
  } else {
    const name = q.get('scenario') ?? (EXAMPLES.has('migrate') ? 'migrate' : [...EXAMPLES.keys()][0]!);
    await runExample(name, atText === null ? { step } : Number(atText));
  }
}
// The worker starts recording before the page's views are even loaded: this module is small
// (the store and the worker client), the views come in their own chunk while the worker runs.
const opened = open();
const app = import('./app.tsx').then(({ App }) => {
  render(<App />, document.getElementById('app')!);
  performance.mark('hmmsim:app-rendered');
});
// While the worker runs, the fonts the first maps' frame needs are looked up (see warm-fonts.ts).
let unwarm: (() => void) | null = null;
void app.then(() => {
  if (!recording.value) unwarm = warmFonts();
});
// Ready once the views drawn have their modules too (see views/lazy.tsx).
const rendered = Promise.all([app, opened])
  .then(() => import('./views/lazy.tsx'))
  .then((m) => m.viewsLoaded());
// The first maps: a recording's first answer (its step ends) or the full one, whichever is in first.
const shown = Promise.race([
  opened,
  new Promise<void>((resolve) => {
    const stop = effect(() => {
      if (recording.value) {
        resolve();
        queueMicrotask(() => stop());
      }
    });
  }),
]);
// The mark is taken once the maps' frame is produced: a frame callback runs at the start of the
// frame, before its style, layout, paint and commit; a message posted from it runs as the next
// task, after them (the usual "after next paint").
void Promise.all([shown, app]).then(() =>
  requestAnimationFrame(() => {
    const after = new MessageChannel();
    after.port1.onmessage = () => {
      after.port1.close();
      window.__hmmsim.firstRenderMs = performance.now();
      performance.mark('hmmsim:first-render');
      // The editor loads once the frame after the first maps is out too.
      requestAnimationFrame(() => setTimeout(() => (firstShown.value = true), 0));
    };
    after.port2.postMessage(null);
  }),
);
void opened.finally(() => {
  firstShown.value = true;
});
void Promise.all([opened, rendered]).then(() =>
  requestAnimationFrame(() => {
    unwarm?.();
    window.__hmmsim.ready = true;
    performance.mark('hmmsim:ready');
    pageReady.value = true;
    document.documentElement.dataset.ready = 'true';
  }),
);

window.addEventListener('keydown', (e) => {
  const t = e.target as HTMLElement;
  if (t.closest('input, textarea, select, .cm-editor, [data-grid]')) return;
  if (!seekState.value) return;
  if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
    const saved = stepBy.value;
    stepBy.value = e.shiftKey ? 'step' : 'event';
    stepOnce(e.key === 'ArrowRight' ? 1 : -1);
    stepBy.value = saved;
    e.preventDefault();
  } else if (e.key === 'Home') seek(0);
  else if (e.key === 'End') seek(recording.value?.rows.length ?? 0);
  else if (e.key === ' ') {
    playing.value = !playing.value;
    e.preventDefault();
  }
});
