/**
 * The editor lights the line of the step under the cursor, in a real browser: at every step end
 * and inside a step, for every example scenario, the lit line is the step's own line of the file
 * (as the CLI's parser records it) — none at the set-up, none once the text is edited.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/cli/scenario/validate.ts';
import { recordScenario } from '../../web/src/model/record-run.ts';
import { type Session, startSession } from './browser.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const dir = path.join(ROOT, 'examples/scenarios');
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.replace(/\.json$/, ''))
  .sort();

let s: Session;
beforeAll(async () => {
  s = await startSession();
});
afterAll(async () => {
  await s?.close();
});

/** The lit line's number and text, or null when none is lit. */
async function lit(page: Page, at: number): Promise<{ line: number; text: string } | null> {
  await page.evaluate((n) => window.__hmmsim.seek(n), at);
  await page.waitForFunction((n) => window.__hmmsim.cursor() === n, at);
  // The editor follows the cursor after a render, and says for which cursor it lit a line.
  await page.waitForSelector(`.cm-host[data-step-at="${at}"]`, { timeout: 10_000 });
  const n = await page.getAttribute('.cm-host', 'data-step-line');
  if (!n) {
    expect(await page.locator('.cm-step-line').count()).toBe(0);
    return null;
  }
  return { line: Number(n), text: (await page.textContent('.cm-step-line')) ?? '' };
}

describe('the editor lights the step under the cursor', () => {
  it.each(names)('%s', async (name) => {
    const text = readFileSync(path.join(dir, `${name}.json`), 'utf8');
    const lines = text.split('\n');
    const doc = loadScenario(text, `${name}.json`);
    const rec = await recordScenario(doc);
    const page = await s.open(`?scenario=${name}&step=0`);
    await page.waitForSelector('.cm-editor');
    expect(await lit(page, 0)).toBeNull();
    // The set-up's own events light nothing.
    expect(await lit(page, rec.marks[0]!.row + 1)).toBeNull();
    for (let k = 1; k < rec.marks.length; k++) {
      const line = doc.steps[k - 1]!.source.line;
      const want = { line, text: lines[line - 1]! };
      const end = rec.marks[k]!.row + 1;
      const got = await lit(page, end);
      expect({ ...got, text: got?.text.trim() }).toEqual({ ...want, text: want.text.trim() });
      // The first event of the step lights it too.
      const first = rec.marks[k - 1]!.row + 2;
      if (first < end) expect((await lit(page, first))?.line).toBe(line);
    }
    // An edit unlights it.
    if (rec.marks.length > 1) {
      await lit(page, rec.marks[1]!.row + 1);
      await page.click('.cm-content');
      await page.keyboard.press('Control+End');
      await page.keyboard.type(' ');
      await page.waitForFunction(() => document.querySelector('.cm-step-line') === null);
    }
    await page.close();
    expect(s.errors).toEqual([]);
  });
});
