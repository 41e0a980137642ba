/**
 * The explorer's teaching views in a real browser, each checked against what Node computes
 * without the page's own model: process labels after fork, migration arrows in the frame map,
 * saved scenarios and share links, the race lanes, workload runs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScenario } from '../../src/cli/scenario/run.ts';
import { loadScenario } from '../../src/cli/scenario/validate.ts';
import { type Session, startSession } from './browser.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const scenarioText = (n: string) => readFileSync(path.join(ROOT, 'examples/scenarios', `${n}.json`), 'utf8');

let s: Session;
beforeAll(async () => {
  s = await startSession();
});
afterAll(async () => {
  await s?.close();
});

describe('process labels', () => {
  it('names a forked child by its scenario name and pid, and says whose child it is', async () => {
    const name = 'fork_device_private';
    // Node's truth, from the bus: who forked whom (not the page's recorder).
    const forks: { parent: number; child: number }[] = [];
    const doc = loadScenario(scenarioText(name), `${name}.json`);
    await runScenario(doc, {
      onMachine: (m) =>
        m.bus.subscribe((e) => {
          if (e.type === 'syscall' && e.name === 'fork' && e.result > 0)
            forks.push({ parent: e.mm, child: e.result });
        }),
    });
    expect(forks).toHaveLength(1);
    const { parent, child } = forks[0]!;
    const forkStep = doc.steps.find((x) => x.op === 'fork') as { process: string; child: string };
    const page = await s.open(`?scenario=${name}&step=end`);
    const bands = await page.locator('#map-bands li').allTextContents();
    expect(bands).toHaveLength(2);
    expect(bands[0]).toMatch(new RegExp(`^${forkStep.process} \\(pid ${parent}\\) · buffer · 1024 pages`));
    expect(bands[1]).toMatch(
      new RegExp(
        `^${forkStep.child} \\(pid ${child}\\) · child of pid ${parent} \\(fork\\) · buffer · 1024 pages`,
      ),
    );
    for (const b of bands) expect(b).not.toMatch(/^pid \d/);
    // The inspector of a page in the child's band says the same.
    await page.focus('canvas[data-view=cpu-map]');
    await page.keyboard.press('End'); // the first key selects the first page
    await page.keyboard.press('End');
    expect(await page.textContent('#inspector dd')).toContain(
      `${forkStep.child} (pid ${child}) · child of pid ${parent} (fork) · buffer [1023]`,
    );
    await page.close();
    expect(s.errors).toEqual([]);
  });
});
