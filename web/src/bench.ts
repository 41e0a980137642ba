/**
 * In-page measurements for `npm run bench:web` (loaded on demand, not part of the page's
 * normal bundle): the full 1 GiB map redrawn frame after frame, step latency over a loaded
 * recording, and the simulator's speed in the worker.
 * @module
 */
import { layout } from './geometry.ts';
import { Pc } from './model/pages.ts';
import type { Region } from './model/recorder.ts';
import { lut, PAGE_COLOURS } from './palette.ts';
import { paintMap } from './render/map.ts';
import { recording, seek, sim } from './store.ts';

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/**
 * Redraws a 262,144-page (1 GiB) map at one pixel a page for `ms` milliseconds of animation
 * frames, changing 1% of the pages before each frame; returns frames a second and the p95 cost
 * of a frame's work.
 */
export async function mapFrames(
  ms = 3000,
): Promise<{ fps: number; frames: number; p50: number; p95: number }> {
  const pages = 262_144;
  const region: Region = {
    name: '1 GiB',
    process: 'bench',
    pid: 1,
    parent: null,
    mm: 1,
    addr: 0x7f0000000000,
    pages,
    at: 0,
    since: 0,
    file: null,
  };
  const l = layout([region], 1, 512);
  const canvas = document.createElement('canvas');
  canvas.width = l.width;
  canvas.height = l.height;
  document.body.appendChild(canvas);
  const ctx = canvas.getContext('2d')!;
  const codes = new Uint8Array(pages);
  let seed = 1;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed;
  };
  const kinds = [Pc.PresentRw, Pc.PresentRo, Pc.DevicePrivateRw, Pc.Swap, Pc.None, Pc.Huge];
  for (let i = 0; i < pages; i++) codes[i] = kinds[rnd() % kinds.length]!;
  const table = lut(PAGE_COLOURS);
  const costs: number[] = [];
  let frames = 0;
  await new Promise<void>((resolve) => {
    let start = -1;
    const frame = (t: number) => {
      if (start < 0) start = t;
      const t0 = performance.now();
      for (let k = 0; k < pages / 100; k++) codes[rnd() % pages] = kinds[rnd() % kinds.length]!;
      paintMap(ctx, {
        layout: l,
        codes,
        lut: table,
        open: [],
        stale: [],
        changed: new Int32Array(0),
        selected: -1,
        title: (r) => r.name,
      });
      costs.push(performance.now() - t0);
      frames++;
      if (t - start < ms) requestAnimationFrame(frame);
      else resolve();
    };
    requestAnimationFrame(frame);
  });
  canvas.remove();
  // The first frame pays for allocating the scratch image; it is not a redraw.
  costs.shift();
  return { fps: ((frames - 1) / ms) * 1000, frames, p50: pct(costs, 50), p95: pct(costs, 95) };
}

/**
 * The reference for {@link mapFrames}: an empty requestAnimationFrame loop for `ms`
 * milliseconds in the same page, frames a second — what the browser delivers with no work at all
 * (headless Chromium's frame pacing on a loaded host drops frames of its own).
 */
export async function rafFrames(ms = 3000): Promise<{ fps: number; frames: number }> {
  let frames = 0;
  const fps = await new Promise<number>((resolve) => {
    let start = -1;
    const frame = (t: number) => {
      if (start < 0) start = t;
      frames++;
      if (t - start < ms) requestAnimationFrame(frame);
      else resolve(((frames - 1) / (t - start)) * 1000);
    };
    requestAnimationFrame(frame);
  });
  return { fps, frames };
}

/**
 * Seeks `n` times (one step back or forward, or a random jump), timing each until the page has
 * re-rendered. Each seek is timed `tries` times (going back to where it started in between) and
 * the fastest counts: on a shared machine the slower tries measure the scheduler, not the page.
 */
export async function stepLatency(
  n = 200,
  tries = 1,
): Promise<{ p50: number; p95: number; max: number; rows: number }> {
  const rec = recording.value;
  if (!rec) throw new Error('no recording loaded');
  const times: number[] = [];
  const settle = () => new Promise((r) => setTimeout(r, 0));
  let at = Math.floor(rec.rows.length / 2);
  for (let i = 0; i < n; i++) {
    const from = at;
    at =
      i % 4 === 3
        ? (i * 7919) % rec.rows.length
        : Math.max(0, Math.min(rec.rows.length, at + (i % 2 ? -1 : 1) * (1 + (i % 5))));
    let best = Number.POSITIVE_INFINITY;
    for (let k = 0; k < tries; k++) {
      if (k > 0) {
        seek(from);
        await settle();
      }
      const t0 = performance.now();
      seek(at);
      // Preact renders on a microtask and the maps paint in layout effects: a macrotask later it
      // is all done; reading the layout then makes the browser do the style and layout work too.
      await settle();
      document.body.getBoundingClientRect();
      best = Math.min(best, performance.now() - t0);
    }
    times.push(best);
  }
  return { p50: pct(times, 50), p95: pct(times, 95), max: Math.max(...times), rows: rec.rows.length };
}

/** Times `runs` plain runs (no recorder) of the scenario text in the worker, ms each. */
export async function simSpeed(text: string, file: string, runs: number): Promise<number[]> {
  const r = await sim.request({ kind: 'time', text, file, runs });
  if (r.kind !== 'timed') throw new Error(r.kind === 'error' ? r.message : 'unexpected reply');
  return r.ms;
}
