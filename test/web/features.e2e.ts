/**
 * The explorer's teaching views in a real browser, each checked against what Node computes
 * without the page's own model: process labels after fork, migration arrows in the frame map,
 * saved scenarios and share links, the race lanes, workload runs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScenario } from '../../src/cli/scenario/run.ts';
import { formatIssue, loadScenario, ScenarioError } from '../../src/cli/scenario/validate.ts';
import { loadWorkloadFile } from '../../src/cli/workload/file.ts';
import { runWorkload } from '../../src/workload/index.ts';
import { type CpuSummary, Pc, readPageStates } from '../../web/src/model/pages.ts';
import { recordScenario } from '../../web/src/model/record-run.ts';
import { MOVE_COLOURS } from '../../web/src/palette.ts';
import { hmmsim, pageState, type Session, startSession } from './browser.ts';

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

/** Pages whose CPU entry went between RAM and device-private memory in step `k` (1-based), read from the page tables in Node. */
async function movesInStep(name: string, k: number): Promise<Map<number, [number, number]>> {
  const doc = loadScenario(scenarioText(name), `${name}.json`);
  const ends: { codes: Uint8Array; pfns: Float64Array }[] = [];
  let machine: import('../../src/machine.ts').Machine | null = null;
  await runScenario(doc, {
    onMachine: (m) => (machine = m),
    onStep: () => {
      const mm = machine!.processes[0]!.mm;
      const v = mm.vmas[0]!;
      const pages = (v.end - v.start) / 4096;
      const codes = new Uint8Array(pages);
      const pfns = new Float64Array(pages);
      readPageStates(mm, v.start, pages, codes, pfns, 0);
      ends.push({ codes, pfns });
    },
  });
  // The set-up's mappings report first; then one report per top-level step (none nest here).
  const setup = ends.length - doc.steps.length;
  const before = ends[setup + k - 2]!;
  const after = ends[setup + k - 1]!;
  const ram = (c: number) => c === Pc.PresentRo || c === Pc.PresentRw;
  const dev = (c: number) => c === Pc.DevicePrivateRo || c === Pc.DevicePrivateRw;
  const out = new Map<number, [number, number]>();
  for (let i = 0; i < before.codes.length; i++) {
    const a = before.codes[i]!;
    const b = after.codes[i]!;
    if ((ram(a) && dev(b)) || (dev(a) && ram(b))) out.set(i, [before.pfns[i]!, after.pfns[i]!]);
  }
  return out;
}

/** The moves the page lists, page by page, with their direction and state. */
async function pageMoves(page: import('playwright-core').Page) {
  const runs = await page.$$eval('#migrations li', (ls) =>
    ls.map((l) => {
      const d = (l as HTMLElement).dataset;
      return {
        first: Number(d.firstPage),
        pages: Number(d.pages),
        from: Number(d.from),
        to: Number(d.to),
        dFrom: Number(d.dFrom),
        dTo: Number(d.dTo),
        dir: d.dir!,
        state: d.state!,
      };
    }),
  );
  const moves = new Map<number, [number, number]>();
  for (const r of runs)
    for (let j = 0; j < r.pages; j++) moves.set(r.first + j, [r.from + j * r.dFrom, r.to + j * r.dTo]);
  return { runs, moves };
}

/** Canvas pixels of the frame map painted in an arrow colour. */
async function arrowPixels(page: import('playwright-core').Page): Promise<number> {
  return page.locator('canvas[data-view=frames]').evaluate((c: HTMLCanvasElement, colours) => {
    const want = colours.map((h) => [1, 3, 5].map((o) => Number.parseInt(h.slice(o, o + 2), 16)));
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4)
      if (want.some((w) => w[0] === d[i] && w[1] === d[i + 1] && w[2] === d[i + 2])) n++;
    return n;
  }, Object.values(MOVE_COLOURS));
}

describe('migration arrows', () => {
  it('draws RAM → device moves from each source frame to its destination for the step that migrated', async () => {
    const truth = await movesInStep('migrate', 3);
    expect(truth.size).toBe(1024);
    const page = await s.open('?scenario=migrate&step=3');
    const { runs, moves } = await pageMoves(page);
    expect(runs.length).toBeGreaterThan(0);
    for (const r of runs) expect([r.dir, r.state]).toEqual(['to-device', 'done']);
    expect(moves).toEqual(truth);
    expect(await arrowPixels(page)).toBeGreaterThan(0);
    // The step before moved nothing: no arrows.
    await page.click('#back');
    await page.waitForSelector('canvas[data-view=frames][data-runs="0"]');
    expect(await page.locator('#migrations li').count()).toBe(0);
    expect(await arrowPixels(page)).toBe(0);
    await page.close();
    expect(s.errors).toEqual([]);
  });

  it('shows a migrate_vma in progress (migration entries installed) before its destination is mapped', async () => {
    const truth = await movesInStep('migrate', 3);
    const rec = await recordScenario(loadScenario(scenarioText('migrate'), 'migrate.json'));
    const step3 = rec.marks[2]!.row;
    const pagesRow = rec.rows.findIndex((r, i) => i > step3 && r.text.startsWith('▸ migrate_vma_pages'));
    const finalized = rec.rows.findIndex((r, i) => i > step3 && r.text.startsWith('◂ migrate_finalize'));
    expect(pagesRow).toBeGreaterThan(0);
    const page = await s.open('?scenario=migrate&step=2');
    await page.evaluate((n) => window.__hmmsim.seek(n), pagesRow + 1);
    let { runs, moves } = await pageMoves(page);
    // The first 2 MiB chunk has its migration entries; its destination is not mapped yet.
    expect(runs.map((r) => [r.dir, r.state])).toEqual([['to-device', 'in progress']]);
    expect(moves.size).toBe(512);
    for (const [i, m] of moves) expect(m).toEqual(truth.get(i));
    await page.evaluate((n) => window.__hmmsim.seek(n), finalized + 1);
    ({ runs, moves } = await pageMoves(page));
    expect(runs.every((r) => r.state === 'done')).toBe(true);
    expect(moves.size).toBe(512);
    await page.close();
    expect(s.errors).toEqual([]);
  });

  it('draws device → RAM moves when CPU faults bring pages back', async () => {
    const truth = await movesInStep('migrate_fault', 4);
    expect(truth.size).toBe(512);
    const page = await s.open('?scenario=migrate_fault&step=4');
    const { runs, moves } = await pageMoves(page);
    for (const r of runs) expect([r.dir, r.state]).toEqual(['to-ram', 'done']);
    expect(moves).toEqual(truth);
    expect(await arrowPixels(page)).toBeGreaterThan(0);
    await page.close();
    expect(s.errors).toEqual([]);
  });
});

/** Replaces the editor's text and waits for its lint to run. */
async function typeScenario(page: import('playwright-core').Page, text: string): Promise<void> {
  await page.waitForSelector('.cm-content');
  await page.click('.cm-content');
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(text);
}

/** The #state summaries after each step of `text`, computed in Node. */
async function truthOf(text: string, file: string): Promise<{ steps: number; cpu: CpuSummary[] }> {
  const cpu: CpuSummary[] = [];
  const rec = await recordScenario(loadScenario(text, file), { onStepEnd: (i, c) => (cpu[i] = c) });
  return { steps: rec.steps, cpu };
}

describe('saved scenarios and share links', () => {
  const half = scenarioText('migrate').replace(/1024/g, '512');

  it('saves an edited scenario under a name, lists it after a reload, loads and deletes it', async () => {
    const truth = await truthOf(half, 'migrate.json');
    const page = await s.open('?scenario=anon_read&step=end');
    await typeScenario(page, half);
    await page.fill('#save-name', 'half migrate');
    await page.click('#save');
    expect(await page.locator('#saved li').allTextContents()).toEqual([
      expect.stringContaining('half migrate'),
    ]);
    await page.close();
    // A new page of the same browser profile: still there; loading it records it.
    const again = await s.open('?scenario=anon_read&step=end');
    await again.waitForSelector('#saved li[data-name="half migrate"]');
    await again.click('#saved li[data-name="half migrate"] button.load');
    await again.waitForFunction(() => document.querySelector('#state')?.textContent?.includes('"migrate"'));
    expect(await pageState(again)).toEqual({
      scenario: 'migrate',
      step: truth.steps,
      steps: truth.steps,
      cpu: truth.cpu[truth.steps],
    });
    await again.click('#saved li[data-name="half migrate"] button.delete');
    expect(await again.locator('#saved li').count()).toBe(0);
    await again.close();
    const third = await s.open('?scenario=anon_read&step=end');
    await third.waitForSelector('#save');
    expect(await third.locator('#saved li').count()).toBe(0);
    await third.close();
    expect(s.errors).toEqual([]);
  });

  it('a share link opens the scenario it carries, at the step it names', async () => {
    const truth = await truthOf(half, 'migrate.json');
    const page = await s.open('?scenario=anon_read&step=end');
    await typeScenario(page, half);
    await page.click('#share');
    const link = await page.inputValue('#share-link');
    expect(link).toMatch(/\?share=[A-Za-z0-9_-]+$/);
    // Smaller than the text it carries.
    expect(link.length).toBeLessThan(half.length);
    await page.close();
    const opened = await s.open(`${link.slice(link.indexOf('?'))}&step=3`);
    expect(await pageState(opened)).toEqual({
      scenario: 'migrate',
      step: 3,
      steps: truth.steps,
      cpu: truth.cpu[3],
    });
    await opened.waitForSelector('.cm-content');
    expect(await opened.evaluate(() => document.querySelector('.cm-content')?.textContent)).toContain(
      '"pages": 512',
    );
    // The URL keeps the link as the user steps (to the last step: step=end).
    await opened.click('#forward');
    await opened.waitForFunction(() => location.search.includes('step=end'));
    expect(new URL(opened.url()).searchParams.get('share')).toBe(new URL(link).searchParams.get('share'));
    await opened.close();
    expect(s.errors).toEqual([]);
  });

  it('a damaged link says so; a link to an invalid scenario shows the validation errors at their lines', async () => {
    const cut = await s.open('?share=not*base64');
    await cut.waitForSelector('#link-error');
    expect(await cut.textContent('#link-error')).toMatch(/^the share link is damaged/);
    await cut.close();
    const garbled = await s.open('?share=AAAAAAAAAAAA');
    await garbled.waitForSelector('#link-error');
    expect(await garbled.textContent('#link-error')).toMatch(
      /^the share link is damaged: its scenario does not decompress/,
    );
    await garbled.close();
    // A well-formed link to a scenario with a mistake: the CLI's messages, as for a file.
    const bad = scenarioText('migrate').replace('"migrateToDev"', '"migrate_to_dev"');
    let expected: string[] = [];
    try {
      loadScenario(bad, 'migrate.json');
    } catch (e) {
      expected = (e as ScenarioError).issues.map(formatIssue);
    }
    expect(expected.length).toBeGreaterThan(0);
    const { encodeShare } = await import('../../web/src/model/share.ts');
    const page = await s.open(`?share=${await encodeShare(bad)}`);
    await page.waitForSelector('.cm-lintRange-error', { timeout: 30_000 });
    expect(await page.locator('#problems li').allTextContents()).toEqual(expected);
    expect(await page.isDisabled('#run')).toBe(true);
    await page.close();
    expect(s.errors).toEqual([]);
  });
});

describe('race lanes', () => {
  it("lays mutant D2's failing schedule across thread lanes, marks preemptions and the violation, and steps through it", async () => {
    const found = await hmmsim(['explore', '--mutant', 'D2', '--json']);
    expect(found.code).toBe(1);
    const token: string = JSON.parse(found.out).report.failure.shrunkToken;
    const cli = await hmmsim(['explore', '--mutant', 'D2', '--replay', token]);
    expect(cli.code).toBe(1);
    // The CLI's account: `N [  t µs] #k name  what` per step.
    const lines = cli.out
      .split('\n')
      .map((l) => /^\s*(\d+) \[\s*[\d.]+ µs\] (#\d+ \S+)\s+(?:» )?(.*)$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => ({ thread: m[2]!, what: m[3]! }));
    expect(lines.length).toBeGreaterThan(10);
    const threads: string[] = [];
    for (const l of lines) if (!threads.includes(l.thread)) threads.push(l.thread);
    const page = await s.open(`?token=${encodeURIComponent(token)}`);
    expect(await page.textContent('#race-token')).toBe(token);
    const svg = page.locator('#race-lanes svg');
    expect(Number(await svg.getAttribute('data-lanes'))).toBe(threads.length);
    expect(Number(await svg.getAttribute('data-steps'))).toBe(lines.length);
    const marks = await page.$$eval('#race-lanes g.step', (gs) =>
      gs.map((g) => ({
        lane: Number((g as SVGElement).dataset.lane),
        kind: (g as SVGElement).dataset.kind!,
      })),
    );
    expect(marks.map((m) => threads[m.lane])).toEqual(lines.map((l) => l.thread));
    const where = (pred: (i: number) => boolean) => lines.map((_, i) => i).filter(pred);
    const preempts = where((i) => / PREEMPT → /.test(lines[i]!.what));
    expect(preempts.length).toBeGreaterThan(0);
    expect(where((i) => marks[i]!.kind === 'preempt')).toEqual(preempts);
    const violation = lines.findIndex((l) => l.what.startsWith('violation ('));
    expect(violation).toBeGreaterThan(0);
    expect(where((i) => marks[i]!.kind === 'violation')).toEqual([violation]);
    expect(where((i) => marks[i]!.kind === 'switch')).toEqual(
      where((i) => lines[i]!.what.startsWith('switch from')),
    );
    // Step through the schedule from its start: the mirror agrees with the CPU until the violation.
    const stale = async () => Number(await page.getAttribute('canvas[data-view=device-map]', 'data-stale'));
    const stepText = () => page.textContent('#race-step-text');
    await page.click('#race-first');
    expect(await page.getAttribute('#race-step-text', 'data-step')).toBe('0');
    expect(await stale()).toBe(0);
    for (let j = 1; j <= violation; j++) {
      await page.click('#race-next');
      expect(await page.getAttribute('#race-step-text', 'data-step')).toBe(String(j));
      expect(await stepText()).toContain(`step ${j + 1}/${lines.length} · ${lines[j]!.thread} · `);
    }
    expect(await stale()).toBeGreaterThan(0);
    await page.click('#race-prev');
    expect(await page.getAttribute('#race-step-text', 'data-step')).toBe(String(violation - 1));
    // A click on a step goes there.
    await page.click(`#race-lanes g.step[data-step="${violation}"]`);
    expect(await page.getAttribute('#race-step-text', 'data-step')).toBe(String(violation));
    await page.close();
    expect(s.errors).toEqual([]);
  });
});

describe('workload runs', () => {
  const dir = path.join(ROOT, 'examples/workloads');
  const workloads = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.replace(/\.json$/, ''));
  const workloadText = (n: string) => readFileSync(path.join(dir, `${n}.json`), 'utf8');

  it.each(workloads)(
    '%s runs in the page with the counters and batches the CLI gets in Node',
    async (name) => {
      const spec = loadWorkloadFile(workloadText(name), `${name}.json`);
      let batches = 0;
      const truth = runWorkload(spec, { observer: { onBatch: () => batches++ } });
      const page = await s.open(`?workload=${name}`);
      await page.waitForSelector(`#workload-result[data-workload="${spec.name}"]`);
      const counters = await page.$$eval('#workload-counters tr[data-counter]', (rs) =>
        Object.fromEntries(
          rs.map((r) => [(r as HTMLElement).dataset.counter!, Number((r as HTMLElement).dataset.value)]),
        ),
      );
      expect(counters).toEqual(truth.counters);
      expect(Number(await page.getAttribute('#workload-chart', 'data-points'))).toBe(batches);
      expect(batches).toBeGreaterThan(0);
      await page.close();
      expect(s.errors).toEqual([]);
    },
  );

  it('shows the progress of a long run and cancels it; a workload with a mistake shows the CLI message', async () => {
    const page = await s.open('?workload=small');
    await page.waitForSelector('#workload-result[data-workload="small-stencil"]');
    // BabelStream's triad twenty times over: tens of seconds.
    const long = workloadText('stream').replace('"repeat": 2', '"repeat": 40');
    expect(long).not.toBe(workloadText('stream'));
    await page.fill('#workload-text', long);
    await page.click('#workload-run');
    await page.waitForFunction(
      () => Number(document.querySelector('#workload-progress')?.getAttribute('data-done')) > 0,
      null,
      { timeout: 120_000 },
    );
    expect(await page.isDisabled('#workload-run')).toBe(true);
    await page.click('#workload-cancel');
    expect(await page.textContent('#workload-status')).toBe('cancelled');
    expect(await page.isDisabled('#workload-run')).toBe(false);
    // The last finished run stays shown.
    expect(await page.getAttribute('#workload-result', 'data-workload')).toBe('small-stencil');
    const bad = workloadText('small').replace('"nvidia-uvm"', '"nvidia_uvm"');
    let expected: string[] = [];
    try {
      loadWorkloadFile(bad, 'custom.json');
    } catch (e) {
      if (e instanceof ScenarioError) expected = e.issues.map(formatIssue);
    }
    expect(expected.length).toBeGreaterThan(0);
    await page.fill('#workload-text', bad);
    await page.click('#workload-run');
    await page.waitForSelector('#workload-problems li');
    expect(await page.locator('#workload-problems li').allTextContents()).toEqual(expected);
    await page.close();
    expect(s.errors).toEqual([]);
  });
});
