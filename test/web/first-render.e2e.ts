/**
 * The first render in a real browser: the page paints the worker's first answer (the step ends
 * of the run, recorded without a row per event) before the full recording is in. That first
 * picture must already be the truth: `#state` and every cell of both maps equal the same
 * scenario run in Node at that step. The full recording is held back by the test (the sim
 * worker's `recorded` reply is kept until released), so what is checked is what the page shows
 * before it; after the release nothing on screen changes, and a move by event asked for while
 * only the step ends were in is made once the full recording is.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/cli/scenario/validate.ts';
import { layout } from '../../web/src/geometry.ts';
import type { CpuSummary } from '../../web/src/model/pages.ts';
import { recordScenario } from '../../web/src/model/record-run.ts';
import type { Recording } from '../../web/src/model/recorder.ts';
import { SeekState } from '../../web/src/model/seek.ts';
import { DEVICE_COLOURS, PAGE_COLOURS } from '../../web/src/palette.ts';
import { pageState, type Session, startSession } from './browser.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const doc = (n: string) =>
  loadScenario(readFileSync(path.join(ROOT, 'examples/scenarios', `${n}.json`), 'utf8'), `${n}.json`);

/**
 * Installed before the page's scripts: the simulation worker's `recorded` replies are held (the
 * page sees every other reply, the first answer included) until `__releaseFull()`.
 */
function holdFullRecording(): void {
  const w = window as unknown as { __held: (() => void)[]; __released: boolean; __releaseFull: () => void };
  w.__held = [];
  w.__released = false;
  const Base = window.Worker;
  window.Worker = class extends Base {
    constructor(url: string | URL, options?: WorkerOptions) {
      super(url, options);
      if (!String(url).includes('sim.worker')) return;
      let handler: ((e: MessageEvent) => void) | null = null;
      super.onmessage = (e: MessageEvent) => {
        if ((e.data as { kind?: string }).kind === 'recorded' && !w.__released)
          w.__held.push(() => handler?.call(this, e));
        else handler?.call(this, e);
      };
      Object.defineProperty(this, 'onmessage', {
        get: () => handler,
        set: (h: ((e: MessageEvent) => void) | null) => {
          handler = h;
        },
      });
    }
  };
  w.__releaseFull = () => {
    w.__released = true;
    for (const f of w.__held.splice(0)) f();
  };
}

/** Every page's cell colour on both maps, read from the canvases (centre pixel of each cell). */
async function mapColours(page: Page, rec: Recording): Promise<{ cpu: string[]; dev: string[] }> {
  const out = { cpu: [] as string[], dev: [] as string[] };
  for (const [view, key] of [
    ['cpu-map', 'cpu'],
    ['device-map', 'dev'],
  ] as const) {
    const canvas = page.locator(`canvas[data-view=${view}]`);
    const ppx = Number(await canvas.getAttribute('data-ppx'));
    const cols = Number(await canvas.getAttribute('data-cols'));
    const l = layout(rec.regions, ppx, cols);
    const pts: number[] = [];
    for (const b of l.bands)
      for (let j = 0; j < b.region.pages; j++)
        pts.push(
          (j % cols) * ppx + Math.floor(ppx / 2),
          b.top + Math.floor(j / cols) * ppx + Math.floor(ppx / 2),
        );
    out[key] = await canvas.evaluate((c: HTMLCanvasElement, xy: number[]) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      const hex = (v: number) => v.toString(16).padStart(2, '0');
      const res: string[] = [];
      for (let k = 0; k < xy.length; k += 2) {
        const o = (xy[k + 1]! * c.width + xy[k]!) * 4;
        res.push(`#${hex(d[o]!)}${hex(d[o + 1]!)}${hex(d[o + 2]!)}`);
      }
      return res;
    }, pts);
  }
  return out;
}

let s: Session;
beforeAll(async () => {
  s = await startSession();
  await s.ctx.addInitScript(holdFullRecording);
});
afterAll(async () => {
  await s?.close();
});

describe('first render: the step ends painted before the full recording equal Node', () => {
  it.each([
    ['migrate', 'end'],
    ['migrate', '1'],
    ['fork_device_private', 'end'],
    ['exclusive', '2'],
  ])('%s at step %s', async (name, stepText) => {
    const truth: CpuSummary[] = [];
    const rec = await recordScenario(doc(name), { onStepEnd: (i, c) => (truth[i] = c) });
    const step = stepText === 'end' ? rec.steps : Number(stepText);
    const st = new SeekState(rec);
    st.seek(st.atStep(step));
    // No stale device entry at these moments: no red outline over a neighbour's centre.
    expect(st.dev.some((d) => (d & 8) !== 0)).toBe(false);
    const want = {
      cpu: [...st.codes].map((c) => PAGE_COLOURS[c]),
      dev: [...st.dev].map((c) => DEVICE_COLOURS[c]),
    };
    const state = { scenario: name, step, steps: rec.steps, cpu: truth[step] };

    const page = await s.ctx.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${s.server.url}?scenario=${name}&step=${stepText}`);
    await page.waitForFunction(() => window.__hmmsim?.firstRenderMs > 0, null, { timeout: 120_000 });
    // Painted from the first answer: the full recording is still held.
    expect(await page.evaluate(() => [window.__hmmsim.partial(), window.__hmmsim.ready])).toEqual([
      true,
      false,
    ]);
    expect(await page.evaluate(() => window.__hmmsim.rows())).toBe(rec.steps + 1);
    expect(await pageState(page)).toEqual(state);
    expect(await mapColours(page, rec)).toEqual(want);

    // One event back, asked for now: made once the full recording is in.
    await page.keyboard.press('ArrowLeft');
    await page.waitForFunction(() => (window as unknown as { __held: unknown[] }).__held.length > 0, null, {
      timeout: 120_000,
    });
    await page.evaluate(() => (window as unknown as { __releaseFull: () => void }).__releaseFull());
    await page.waitForFunction(() => window.__hmmsim.ready === true, null, { timeout: 120_000 });
    expect(await page.evaluate(() => [window.__hmmsim.partial(), window.__hmmsim.rows()])).toEqual([
      false,
      rec.rows.length,
    ]);
    const at = st.atStep(step);
    expect(await page.evaluate(() => window.__hmmsim.cursor())).toBe(at - 1);
    // Back at the step end: the full recording shows what the first answer showed.
    await page.evaluate((n) => window.__hmmsim.seek(n), at);
    expect(await pageState(page)).toEqual(state);
    expect(await mapColours(page, rec)).toEqual(want);
    expect(errors).toEqual([]);
    await page.close();
  });
});
