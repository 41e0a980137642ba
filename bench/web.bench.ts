/**
 * The visual explorer in Chromium (Debian's, driven by playwright-core), on the built page
 * (`npm run build:web` first):
 *
 * - `first-render`: navigation to the first painted maps of `?scenario=migrate&step=end` with a
 *   fresh browser profile (the worker runs the scenario in between and answers first with its
 *   step ends, see docs/web.md), wall clock from before opening the tab; `first-render-in-page`,
 *   the same moment on the page's own clock, from its navigation's start (no tab opening, no
 *   polling); `full-recording-in-page`, on the page's clock, when the full recording (a row per
 *   event) is loaded and the page is ready.
 * - `map-fps` / `map-frame-p95`: the full 1 GiB map (262,144 pages at one pixel a page) redrawn
 *   on every animation frame for 3 s, 1% of the pages changed before each frame, once the page
 *   has finished its own work after opening; `raf-fps`, the reference: an empty animation-frame
 *   loop in the same page just before each run, and `map-fps-vs-raf` their ratio.
 * - `step-p95`: 200 seeks over the fork_device_private recording (20,648 events; steps of 1–5
 *   events both ways and random jumps), each timed until the page has re-rendered and laid out,
 *   the fastest of three tries per seek.
 * - `sim-<scenario>`: the browser's speed relative to Node, as Node's time over the browser's
 *   time for plain runs (no recorder) of the example, interleaved in one benchmark run.
 * - `record-<scenario>`: in Node, a run with the recorder over a plain run of the example, in
 *   CPU time.
 *
 *   npm run bench:web            (= tsx bench/run.ts web)
 * @module
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { runScenario } from '../src/cli/scenario/run.ts';
import { loadScenario } from '../src/cli/scenario/validate.ts';
import { pageState, startSession } from '../test/web/browser.ts';
import { recordScenario } from '../web/src/model/record-run.ts';
import { type Benchmark, type BenchResult, summarize } from './harness.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
/** CPU ms (user + system) of this process since `c0`. */
const cpuMs = (c0: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(c0);
  return (d.user + d.system) / 1000;
};
const SPEED_SCENARIOS = ['migrate', 'fork_device_private', 'exclusive'];

const bench: Benchmark = {
  name: 'web',
  description:
    'the visual explorer in Chromium: first render, 1 GiB map frames, step latency, browser vs Node',
  repetitions: 3,
  async run({ repetitions }) {
    const results: BenchResult[] = [];
    // Recording overhead in Node: a recorded run over a plain run of the same example, interleaved.
    for (const name of SPEED_SCENARIOS) {
      const file = `${name}.json`;
      const doc = loadScenario(readFileSync(path.join(ROOT, 'examples/scenarios', file), 'utf8'), file);
      const ratios: number[] = [];
      for (let i = 0; i < repetitions + 1; i++) {
        // CPU time of this process, not wall clock: on a shared machine the ratio then measures
        // the work, not who else ran meanwhile.
        let c0 = process.cpuUsage();
        await runScenario(doc);
        const plain = cpuMs(c0);
        c0 = process.cpuUsage();
        await recordScenario(doc);
        const recorded = cpuMs(c0);
        if (i > 0) ratios.push(recorded / plain);
      }
      results.push(
        summarize(`record-${name}`, '× plain run', ratios, false, {
          note: 'Node: recorded run ÷ plain run, CPU time (every event read exactly), interleaved pairs',
        }),
      );
    }
    // First render: a fresh session (fresh profile, cold cache) per sample.
    const first: number[] = [];
    const firstInPage: number[] = [];
    const full: number[] = [];
    for (let i = 0; i < repetitions; i++) {
      const s = await startSession();
      try {
        const t0 = performance.now();
        const page = await s.ctx.newPage();
        await page.goto(`${s.server.url}?scenario=migrate&step=end`);
        await page.waitForFunction(() => (window.__hmmsim?.firstRenderMs ?? 0) > 0, null, {
          timeout: 120_000,
        });
        first.push(performance.now() - t0);
        // The same moment on the page's clock, from its navigation's start: without opening the
        // tab (a renderer process) and the harness's polling, which the figure above includes.
        firstInPage.push(await page.evaluate(() => window.__hmmsim.firstRenderMs));
        if ((await pageState(page)) === null) throw new Error('no #state');
        await page.waitForFunction(() => window.__hmmsim.ready, null, { timeout: 120_000 });
        full.push(await page.evaluate(() => performance.getEntriesByName('hmmsim:ready')[0]?.startTime ?? 0));
      } finally {
        await s.close();
      }
    }
    results.push(
      summarize('first-render', 'ms', first, false, {
        goal: { op: '<=', value: 1000 },
        note: 'navigation → maps painted, ?scenario=migrate&step=end, fresh profile',
      }),
    );
    results.push(
      summarize('first-render-in-page', 'ms', firstInPage, false, {
        goal: { op: '<=', value: 1000 },
        note: "the same, on the page clock: navigation start → the maps' frame produced (layout, paint, commit done)",
      }),
    );
    results.push(
      summarize('full-recording-in-page', 'ms', full, false, {
        note: 'page clock: navigation start → the full recording (2,138 rows) loaded, every view drawn (ready)',
      }),
    );
    const s = await startSession();
    try {
      const page = await s.open('?scenario=fork_device_private&step=end');
      // The page's own work after opening (the exact re-run for the frame map, the editor's
      // loading) is done before the frames are counted: it is not the map's cost.
      await page.waitForFunction(
        () =>
          document.querySelector('.cm-editor') !== null &&
          !document.querySelector('#frames')?.textContent?.includes('reading the states'),
        null,
        { timeout: 120_000 },
      );
      await page.waitForTimeout(500);
      const fps: number[] = [];
      const frame: number[] = [];
      const raf: number[] = [];
      const ratio: number[] = [];
      for (let i = 0; i < repetitions; i++) {
        // Interleaved with the same page's empty frame loop, the reference for the frame rate.
        const e = await page.evaluate(async () => (await window.__hmmsim.bench()).rafFrames(3000));
        const r = await page.evaluate(async () => (await window.__hmmsim.bench()).mapFrames(3000));
        fps.push(r.fps);
        frame.push(r.p95);
        raf.push(e.fps);
        ratio.push(r.fps / e.fps);
      }
      results.push(
        summarize('map-fps', 'frames/s', fps, true, {
          goal: { op: '>=', value: 58 },
          note: '262,144 pages at 1 px/page redrawn every frame, 1% changed per frame (headless, software raster)',
        }),
      );
      results.push(summarize('map-frame-p95', 'ms', frame, false, { note: 'p95 of one frame’s work' }));
      results.push(
        summarize('raf-fps', 'frames/s', raf, true, {
          note: 'reference: an empty requestAnimationFrame loop in the same page, 3 s, just before each map run',
        }),
      );
      results.push(
        summarize('map-fps-vs-raf', '× empty loop', ratio, true, {
          note: 'map-fps ÷ raf-fps of the same repetition (1: the map costs no frames)',
        }),
      );
      const step: number[] = [];
      for (let i = 0; i < repetitions; i++) {
        const r = await page.evaluate(async () => (await window.__hmmsim.bench()).stepLatency(200, 3));
        step.push(r.p95);
      }
      results.push(
        summarize('step-p95', 'ms', step, false, {
          goal: { op: '<=', value: 16 },
          note: 'p95 of 200 seeks over fork_device_private (20,648 events), until re-rendered and laid out, best of 3 tries each',
        }),
      );
      for (const name of SPEED_SCENARIOS) {
        const file = `${name}.json`;
        const text = readFileSync(path.join(ROOT, 'examples/scenarios', file), 'utf8');
        const doc = loadScenario(text, file);
        const ratios: number[] = [];
        for (let i = 0; i < repetitions + 1; i++) {
          const t0 = performance.now();
          await runScenario(doc);
          const node = performance.now() - t0;
          const browser = await page.evaluate(
            async ([t, f]) => (await (await window.__hmmsim.bench()).simSpeed(t!, f!, 1))[0]!,
            [text, file],
          );
          // The first pair warms both JITs up.
          if (i > 0) ratios.push(node / browser);
        }
        results.push(
          summarize(`sim-${name}`, '× Node speed', ratios, true, {
            note: 'Node time ÷ browser-worker time of a plain run, interleaved pairs',
          }),
        );
      }
      if (s.errors.length > 0) throw new Error(`console errors: ${s.errors.join('; ')}`);
    } finally {
      await s.close();
    }
    return results;
  },
};

export default bench;
