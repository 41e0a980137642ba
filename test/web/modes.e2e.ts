/**
 * Mode layout in a real browser: Workload mode shows the workload's panels only — none of a
 * scenario's views (maps, inspector, notifiers, filmstrip, timeline, event log, frames,
 * space-time) nor the bar's scenario controls — and the scenario views come back in Explore mode.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pageState, type Session, startSession } from './browser.ts';

let s: Session;
beforeAll(async () => {
  s = await startSession();
});
afterAll(async () => {
  await s?.close();
});

/** What belongs to a scenario: its views, and the bar's picker, stepper and trace export. */
const SCENARIO_PARTS = [
  'canvas[data-view=cpu-map]',
  'canvas[data-view=device-map]',
  '#inspector',
  '#notifiers',
  '#filmstrip',
  '#timeline',
  '#event-log',
  '#frames',
  '#space-time',
  '#scenario-picker',
  '#back',
  '#goto',
  '#trace-download',
  '#state',
  '#status',
];

/** The scenario parts the user can see. */
async function visibleScenarioParts(page: Page): Promise<string[]> {
  const out: string[] = [];
  for (const sel of SCENARIO_PARTS) if (await page.locator(sel).first().isVisible()) out.push(sel);
  return out;
}

describe('Workload mode shows what belongs to it', () => {
  it('from a scenario, Workload hides every scenario view and Explore brings them back', async () => {
    const page = await s.open('?scenario=migrate&step=end');
    expect(await visibleScenarioParts(page)).toEqual(SCENARIO_PARTS);
    await page.click('header .modes button:has-text("Workload")');
    await page.selectOption('#workload-picker', 'small');
    await page.click('#workload-run');
    await page.waitForSelector('#workload-result[data-workload="small-stencil"]');
    expect(await page.isVisible('#workload-chart')).toBe(true);
    expect(await visibleScenarioParts(page)).toEqual([]);
    // `#state` (the contract) stays in the page, hidden, and still current.
    expect(await pageState(page)).toMatchObject({ scenario: 'migrate' });

    await page.click('header .modes button:has-text("Explore")');
    await page.waitForSelector('canvas[data-view=cpu-map]');
    expect(await visibleScenarioParts(page)).toEqual(SCENARIO_PARTS);
    expect(await page.isVisible('#workload')).toBe(false);
    await page.close();
    expect(s.errors).toEqual([]);
  });

  it('a page opened on a workload has no scenario views; Explore opens a scenario', async () => {
    const page = await s.open('?workload=small');
    await page.waitForSelector('#workload-result[data-workload="small-stencil"]');
    expect(await visibleScenarioParts(page)).toEqual([]);
    await page.click('header .modes button:has-text("Explore")');
    // The views that show every event come with the full recording (after the step ends).
    await page.waitForFunction(() => window.__hmmsim.rows() > 0 && !window.__hmmsim.partial());
    await page.waitForSelector('canvas[data-view=cpu-map]');
    await expect.poll(() => visibleScenarioParts(page)).toEqual(SCENARIO_PARTS);
    expect(await pageState(page)).toMatchObject({ scenario: 'migrate', step: 4 });
    await page.close();
    expect(s.errors).toEqual([]);
  });
});
