/**
 * The visual explorer in a real browser (Debian's Chromium through playwright-core): the URL and
 * `#state` contract for every example scenario against the same run in Node, map pixels against
 * Node's page states, stepping, the editor's inline validation, a mutant's replay token from
 * `hmmsim explore`, the `hmmsim web` command, and no console errors anywhere.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIssue, loadScenario, type ScenarioError } from '../../src/cli/scenario/validate.ts';
import { layout } from '../../web/src/geometry.ts';
import { filterRows, NO_FILTER, ROW_TYPES } from '../../web/src/model/log-filter.ts';
import type { CpuSummary } from '../../web/src/model/pages.ts';
import { recordScenario } from '../../web/src/model/record-run.ts';
import { SeekState } from '../../web/src/model/seek.ts';
import { DEVICE_COLOURS, PAGE_COLOURS } from '../../web/src/palette.ts';
import { hmmsim, pageState, type Session, startSession } from './browser.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const dir = path.join(ROOT, 'examples/scenarios');
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.replace(/\.json$/, ''))
  .sort();
const text = (n: string) => readFileSync(path.join(dir, `${n}.json`), 'utf8');

let s: Session;
beforeAll(async () => {
  s = await startSession();
});
afterAll(async () => {
  await s?.close();
});

describe('URL and #state contract, every example against Node', () => {
  it.each(names)('%s', async (name) => {
    const truth: CpuSummary[] = [];
    const rec = await recordScenario(loadScenario(text(name), `${name}.json`), {
      onStepEnd: (i, c) => (truth[i] = c),
    });
    const steps = rec.steps;
    const picks = [...new Set([0, Math.floor(steps / 2), steps - 1])].filter((k) => k >= 0);
    for (const k of picks) {
      const page = await s.open(`?scenario=${name}&step=${k}`);
      expect(await pageState(page)).toEqual({ scenario: name, step: k, steps, cpu: truth[k] });
      await page.close();
    }
    const page = await s.open(`?scenario=${name}&step=end`);
    expect(await pageState(page)).toEqual({ scenario: name, step: steps, steps, cpu: truth[steps] });
    // Stepping back and forward keeps #state current.
    if (steps > 0) {
      await page.click('#back');
      expect(await pageState(page)).toEqual({
        scenario: name,
        step: steps - 1,
        steps,
        cpu: truth[steps - 1],
      });
      await page.click('#forward');
      expect(await pageState(page)).toEqual({ scenario: name, step: steps, steps, cpu: truth[steps] });
    }
    await page.close();
    expect(s.errors).toEqual([]);
  });
});

describe('map pixels', () => {
  it('the CPU map and the device mirror show the page states Node computes, cell by cell', async () => {
    const name = 'migrate';
    const rec = await recordScenario(loadScenario(text(name), `${name}.json`));
    const st = new SeekState(rec);
    for (const step of [1, 3]) {
      st.seek(st.atStep(step));
      const page = await s.open(`?scenario=${name}&step=${step}`);
      // Fitted (cells drawn scaled) and at one pixel a page (cells put straight on the canvas).
      for (const zoom of ['0', '1'])
        for (const [view, codes, colours] of [
          ['cpu-map', st.codes, PAGE_COLOURS],
          ['device-map', st.dev, DEVICE_COLOURS],
        ] as const) {
          if (zoom !== '0') {
            await page.selectOption('.maps .legend select', zoom);
            await page.waitForSelector(`canvas[data-view=${view}][data-ppx="${zoom}"]`);
          }
          const canvas = page.locator(`canvas[data-view=${view}]`);
          const ppx = Number(await canvas.getAttribute('data-ppx'));
          const cols = Number(await canvas.getAttribute('data-cols'));
          const l = layout(rec.regions, ppx, cols);
          const samples = [0, 5, 511, 512, 1023].map((i) => {
            const b = l.bands[0]!;
            // A point inside the cell, off its grid lines and outlines.
            return {
              i,
              x: (i % cols) * ppx + Math.floor(ppx / 2),
              y: b.top + Math.floor(i / cols) * ppx + Math.floor(ppx / 2),
            };
          });
          const got = await canvas.evaluate((c: HTMLCanvasElement, pts) => {
            const ctx = c.getContext('2d')!;
            return pts.map((p) => {
              const d = ctx.getImageData(p.x, p.y, 1, 1).data;
              return `#${[d[0], d[1], d[2]].map((v) => v!.toString(16).padStart(2, '0')).join('')}`;
            });
          }, samples);
          expect(got, `${view} at step ${step}, zoom ${zoom}`).toEqual(
            samples.map((p) => colours[codes[p.i]!]),
          );
        }
      await page.close();
    }
    expect(s.errors).toEqual([]);
  });
});

describe('editor', () => {
  it('shows the CLI validation message at its line and disables Run until it is fixed', async () => {
    const page = await s.open('?scenario=migrate&step=0');
    await page.waitForSelector('.cm-content');
    const bad = text('migrate').replace('"migrateToDev"', '"migrate_to_dev"');
    let expected: string[] = [];
    try {
      loadScenario(bad, 'migrate.json');
    } catch (e) {
      expected = (e as ScenarioError).issues.map(formatIssue);
    }
    expect(expected.length).toBeGreaterThan(0);
    const line = (e: string) => Number(/^migrate\.json:(\d+):/.exec(e)![1]);
    await page.click('.cm-content');
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(bad);
    await page.waitForSelector('.cm-lintRange-error', { timeout: 30_000 });
    expect(await page.locator('#problems li').allTextContents()).toEqual(expected);
    expect(await page.isDisabled('#run')).toBe(true);
    // The error's marker sits on the line the CLI names.
    const markerLine = await page.evaluate(() => {
      const m = document.querySelector('.cm-lint-marker-error');
      const gutter = m?.closest('.cm-gutterElement') as HTMLElement | null;
      if (!gutter) return -1;
      const lines = [...document.querySelectorAll('.cm-lineNumbers .cm-gutterElement')] as HTMLElement[];
      const same = lines.find(
        (l) => Math.abs(l.getBoundingClientRect().top - gutter.getBoundingClientRect().top) < 2,
      );
      return Number(same?.textContent ?? -1);
    });
    expect(markerLine).toBe(line(expected[0]!));
    await page.close();
    expect(s.errors).toEqual([]);
  });
});

describe('race: a replay token from hmmsim explore reproduces in the page', () => {
  it('mutant D2', async () => {
    const found = await hmmsim(['explore', '--mutant', 'D2', '--json']);
    expect(found.code).toBe(1);
    const report = JSON.parse(found.out).report;
    const token: string = report.failure.shrunkToken;
    const cli = await hmmsim(['explore', '--mutant', 'D2', '--replay', token]);
    expect(cli.code).toBe(1);
    const page = await s.open(`?token=${encodeURIComponent(token)}`);
    expect(await page.getAttribute('#race-result', 'data-violation')).toBe(report.failure.violation.oracle);
    expect((await page.textContent('#account'))!.trim()).toBe(cli.out.trim());
    // The device entry the CPU no longer backs is marked on the mirror map.
    expect(
      Number(await page.locator('canvas[data-view=device-map]').getAttribute('data-stale')),
    ).toBeGreaterThan(0);
    // What if decision 1 had picked the other thread: the page's new token replays as the CLI's.
    const before = await page.inputValue('#token');
    await page.click('.whatif[data-decision="1"]');
    await page.waitForFunction(
      (t) => (document.querySelector('#token') as HTMLInputElement).value !== t,
      before,
    );
    const forked = await page.inputValue('#token');
    expect(forked).not.toBe(before);
    expect(forked.startsWith('hx1.')).toBe(true);
    await page.waitForFunction((t) => document.querySelector('#account')?.textContent?.includes(t), forked);
    const cliFork = await hmmsim(['explore', '--mutant', 'D2', '--replay', forked]);
    expect((await page.textContent('#account'))!.trim()).toBe(cliFork.out.trim());
    expect(await page.getAttribute('#race-result', 'data-violation')).toBe(
      cliFork.code === 1 ? 'mirror' : '',
    );
    await page.close();
    expect(s.errors).toEqual([]);
  });
});

describe('trace export', () => {
  it('downloads the run as a Chrome trace equal to hmmsim run --trace', async () => {
    const page = await s.open('?scenario=migrate&step=end');
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#trace-download')]);
    expect(dl.suggestedFilename()).toBe('migrate.trace.json');
    const fromPage = JSON.parse(readFileSync((await dl.path())!, 'utf8'));
    const dir = mkdtempSync(path.join(tmpdir(), 'hmmsim-trace-'));
    try {
      const file = path.join(dir, 'cli.json');
      const cli = await hmmsim(['run', path.join(ROOT, 'examples/scenarios/migrate.json'), '--trace', file]);
      expect(cli.code).toBe(0);
      const fromCli = JSON.parse(readFileSync(file, 'utf8'));
      expect(fromPage.traceEvents.length).toBeGreaterThan(100);
      expect(fromPage.traceEvents).toEqual(fromCli.traceEvents);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await page.close();
    expect(s.errors).toEqual([]);
  });
});

describe('event log filter', () => {
  it('keeps the rows of the checked types, with the text, touching the selected page — as Node filters them', async () => {
    const rec = await recordScenario(loadScenario(text('migrate'), 'migrate.json'));
    const page = await s.open('?scenario=migrate&step=end');
    const matches = async () => Number(await page.getAttribute('#event-log', 'data-matches'));
    expect(await matches()).toBe(rec.rows.length);
    for (const t of ROW_TYPES)
      if (t !== 'invalidate_start') await page.click(`#event-log input[data-type=${t}]`);
    const only = new Set(['invalidate_start']);
    expect(await matches()).toBe(filterRows(rec, { types: only, text: '', page: -1 }).length);
    expect(await matches()).toBe(rec.rows.filter((r) => r.type === 'invalidate_start').length);
    const classes = await page.$$eval('#event-log .row', (rs) => rs.map((r) => r.className));
    expect(classes.length).toBeGreaterThan(0);
    for (const c of classes) expect(c).toMatch(/\binvalidate_start\b/);
    await page.fill('#log-text', 'migrate');
    expect(await matches()).toBe(filterRows(rec, { types: only, text: 'migrate', page: -1 }).length);
    // Every type again, no text, only the rows that touched one page of the map.
    for (const t of ROW_TYPES)
      if (t !== 'invalidate_start') await page.click(`#event-log input[data-type=${t}]`);
    await page.fill('#log-text', '');
    await page.locator('canvas[data-view=cpu-map]').click({ position: { x: 40, y: 40 } });
    const sel = await page.evaluate(() => window.__hmmsim.selected());
    expect(sel).toBeGreaterThanOrEqual(0);
    await page.check('#log-page');
    const want = filterRows(rec, { types: NO_FILTER.types, text: '', page: sel }).length;
    expect(want).toBeGreaterThan(0);
    expect(want).toBeLessThan(rec.rows.length);
    expect(await matches()).toBe(want);
    await page.close();
    expect(s.errors).toEqual([]);
  });
});

describe('filmstrip', () => {
  it('has a thumbnail per step end; a click goes to that step', async () => {
    const name = 'fork_device_private';
    const truth: CpuSummary[] = [];
    const rec = await recordScenario(loadScenario(text(name), `${name}.json`), {
      onStepEnd: (i, c) => (truth[i] = c),
    });
    const page = await s.open(`?scenario=${name}&step=end`);
    expect(await page.locator('#filmstrip .thumb').count()).toBe(rec.steps + 1);
    for (const k of [0, 2, rec.steps]) {
      await page.click(`#filmstrip .thumb[data-step="${k}"]`);
      expect(await pageState(page)).toEqual({ scenario: name, step: k, steps: rec.steps, cpu: truth[k] });
    }
    // The thumbnails show different states (pages went to the device and back).
    const urls = await page.$$eval('#filmstrip canvas', (cs) =>
      cs.map((c) => (c as HTMLCanvasElement).toDataURL()),
    );
    expect(new Set(urls).size).toBeGreaterThan(1);
    await page.close();
    expect(s.errors).toEqual([]);
  });
});

describe('keyboard', () => {
  it('moves the selected page over the map grid with the arrow keys, without stepping', async () => {
    const page = await s.open('?scenario=migrate&step=end');
    const at = await page.evaluate(() => window.__hmmsim.cursor());
    const pages = await page.evaluate(() => window.__hmmsim.rows() >= 0 && window.__hmmsim.summary());
    expect(pages).toBeTruthy();
    await page.focus('canvas[data-view=cpu-map]');
    const sel = () => page.evaluate(() => window.__hmmsim.selected());
    await page.keyboard.press('ArrowRight');
    expect(await sel()).toBe(0);
    await page.keyboard.press('ArrowRight');
    expect(await sel()).toBe(1);
    const cols = Number(await page.getAttribute('canvas[data-view=cpu-map]', 'data-cols'));
    await page.keyboard.press('ArrowDown');
    expect(await sel()).toBe(1 + cols);
    await page.keyboard.press('ArrowLeft');
    expect(await sel()).toBe(cols);
    expect(await page.textContent('#selection')).toContain(`page ${cols} of`);
    await page.keyboard.press('End');
    const rec = await recordScenario(loadScenario(text('migrate'), 'migrate.json'));
    expect(await sel()).toBe(rec.pages - 1);
    // The arrows moved the selection, not the cursor.
    expect(await page.evaluate(() => window.__hmmsim.cursor())).toBe(at);
    await page.close();
    expect(s.errors).toEqual([]);
  });
});

describe('hmmsim web', () => {
  it('prints its URL first, serves the page on 127.0.0.1 and stops on SIGTERM', async () => {
    const p = spawn(process.execPath, [path.join(ROOT, 'bin/hmmsim.mjs'), 'web', '--port', '0'], {
      cwd: ROOT,
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      p.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(out.split('\n')[0]!);
      });
      p.on('close', (code) => reject(new Error(`hmmsim web exited with ${code}`)));
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const res = await fetch(`${url}?scenario=migrate&step=1`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<div id="app">');
    expect((await fetch(`${url}../../package.json`)).status).not.toBe(200);
    const code = await new Promise<number | null>((resolve) => {
      p.on('close', resolve);
      p.kill('SIGTERM');
    });
    expect(code).toBe(0);
  });
});

describe('screenshot', () => {
  it('writes docs/web-explorer.png of fork_device_private after its migration to the device', async () => {
    const page = await s.open('?scenario=fork_device_private&step=3');
    await page.locator('canvas[data-view=cpu-map]').click({ position: { x: 40, y: 40 } });
    await page.waitForSelector('#walk tbody tr', { timeout: 60_000 });
    await page.screenshot({
      path: path.join(ROOT, 'docs/web-explorer.png'),
      clip: { x: 0, y: 0, width: 1500, height: 1000 },
    });
    await page.close();
    expect(s.errors).toEqual([]);
  });
});
