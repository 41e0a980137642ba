/**
 * Race mode's exploration on Web Workers, in a real browser: the page's report (failure, replay
 * tokens, schedules, workers, coverage) equals Node's for the same seed, budget and workers —
 * the CLI's with one worker, the core's in-thread pool with two — the workers are real Web
 * Workers that all end, Stop ends a long run with the report of what ran, and the report saved
 * from the page is `hmmsim explore --json`'s, which `hmmsim explore merge` reads.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toExploreScenario } from '../../src/cli/scenario/to-explore.ts';
import { loadScenario } from '../../src/cli/scenario/validate.ts';
import { explore } from '../../src/explore/explore.ts';
import { findMutant } from '../../src/explore/mutants/index.ts';
import type { ExploreOptions, ExploreReport, Scenario } from '../../src/explore/types.ts';
import { hmmsim, type Session, startSession, watchPoolWorkers } from './browser.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const RACE_SCENARIO = 'device-read-vs-munmap';

let s: Session;
beforeAll(async () => {
  s = await startSession();
});
afterAll(async () => {
  await s?.close();
});

/** Every field but the elapsed time (as the page's `data-json` carries it). */
function stable(r: ExploreReport): unknown {
  const { elapsedMs: _e, ...rest } = r;
  return JSON.parse(JSON.stringify(rest));
}

/** Opens Race mode and explores with the controls set to `o`; resolves to the page's report. */
async function explorePage(
  page: Page,
  o: { mutant: string; schedules: number; seed: number; workers: number },
): Promise<unknown> {
  await page.click('header .modes button:has-text("Race")');
  await page.selectOption('#mutant', o.mutant);
  await page.fill('#schedules', String(o.schedules));
  await page.fill('#seed', String(o.seed));
  await page.fill('#workers', String(o.workers));
  await page.click('#explore');
  await page.waitForSelector('#explore-report', { timeout: 240_000 });
  return JSON.parse((await page.getAttribute('#explore-report', 'data-json'))!);
}

describe('Race mode explores on Web Workers', () => {
  it('one worker: the report of hmmsim explore --mutant D2 (failure, tokens), then its replay', async () => {
    const cli = await hmmsim(['explore', '--mutant', 'D2', '--schedules', '300', '--seed', '1', '--json']);
    expect(cli.code).toBe(1);
    const expected = stable(JSON.parse(cli.out).report as ExploreReport);
    const page = await s.open(`?scenario=${RACE_SCENARIO}`);
    const pool = watchPoolWorkers(page);
    const got = await explorePage(page, { mutant: 'D2', schedules: 300, seed: 1, workers: 1 });
    expect(got).toEqual(expected);
    expect(pool.started()).toBe(1);
    // The shrunk token is replayed in the page.
    const shrunk = (expected as ExploreReport).failure!.shrunkToken;
    await page.waitForFunction(
      (t) => (document.querySelector('#token') as HTMLInputElement)?.value === t,
      shrunk,
    );
    await page.waitForSelector('#race-result[data-violation="mirror"]');
    await page.waitForFunction(() => !document.querySelector('#explore')?.hasAttribute('disabled'));
    await expect.poll(() => pool.alive()).toBe(0);
    await page.close();
    expect(s.errors).toEqual([]);
  });

  it('two workers: mutant M2 (found by the second worker) equals the core in Node with two workers', async () => {
    const spec = findMutant('M2')!;
    const node = await explore({
      ...(spec.scenario as Scenario<unknown>),
      strategy: spec.strategy,
      schedules: 200,
      seed: 1,
      mutant: spec.id,
      workers: 2,
    } as ExploreOptions<unknown>);
    // The case is one where the merge matters: the failure is the second worker's.
    expect(node.workers?.map((w) => w.failed)).toEqual([false, true]);
    const page = await s.open(`?scenario=${RACE_SCENARIO}`);
    const pool = watchPoolWorkers(page);
    const got = await explorePage(page, { mutant: 'M2', schedules: 200, seed: 1, workers: 2 });
    expect(got).toEqual(stable(node));
    expect(pool.started()).toBe(2);
    await page.waitForSelector('#race-result[data-violation]');
    expect(await page.inputValue('#token')).toBe(node.failure!.shrunkToken);
    expect(await page.textContent('#explore-report pre.report')).toContain(
      `VIOLATION in schedule ${node.failure!.schedule} (seed ${node.seed})`,
    );
    await page.waitForFunction(() => !document.querySelector('#explore')?.hasAttribute('disabled'));
    await expect.poll(() => pool.alive()).toBe(0);
    // ⤓ report saves it as hmmsim explore --json writes it, and hmmsim explore merge reads it.
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#explore-download')]);
    expect(dl.suggestedFilename()).toBe(`mutant-M2-seed${node.seed}.explore.json`);
    const saved = JSON.parse(readFileSync((await dl.path())!, 'utf8'));
    expect({ ...saved, report: stable(saved.report) }).toEqual({
      command: 'explore',
      ok: false,
      report: stable(node),
    });
    const dir = mkdtempSync(path.join(tmpdir(), 'hmmsim-report-'));
    try {
      const pageFile = path.join(dir, 'page.json');
      writeFileSync(pageFile, readFileSync((await dl.path())!, 'utf8'));
      const other = await hmmsim(['explore', '--mutant', 'M2', '--schedules', '10', '--seed', '9', '--json']);
      const cliFile = path.join(dir, 'cli.json');
      writeFileSync(cliFile, other.out);
      const merged = await hmmsim(['explore', 'merge', pageFile, cliFile, '--json']);
      const m = JSON.parse(merged.out).merge;
      expect(m.scenario).toBe(node.scenario);
      expect(m.schedules).toBe(node.schedules + JSON.parse(other.out).report.schedules);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await page.close();
    expect(s.errors).toEqual([]);
  });

  it('this scenario, no violation: schedules, workers and coverage equal the core in Node', async () => {
    const text = readFileSync(path.join(ROOT, `examples/scenarios/${RACE_SCENARIO}.json`), 'utf8');
    const doc = loadScenario(text, `${RACE_SCENARIO}.json`);
    const node = await explore({
      ...(toExploreScenario(doc) as Scenario<unknown>),
      strategy: doc.explore?.strategy ?? 'random',
      schedules: 40,
      seed: 3,
      mutant: null,
      workers: 2,
    } as ExploreOptions<unknown>);
    expect(node.failure).toBeNull();
    const page = await s.open(`?scenario=${RACE_SCENARIO}`);
    const got = await explorePage(page, { mutant: '', schedules: 40, seed: 3, workers: 2 });
    expect(got).toEqual(stable(node));
    expect(await page.textContent('#explore-progress')).toBe('no violation in 40 schedules');
    await page.close();
    expect(s.errors).toEqual([]);
  });

  it('shows each worker’s progress and stops a long run with the report of what ran', async () => {
    const page = await s.open(`?scenario=${RACE_SCENARIO}`);
    const pool = watchPoolWorkers(page);
    await page.click('header .modes button:has-text("Race")');
    await page.fill('#schedules', '1000000');
    await page.fill('#workers', '2');
    await page.click('#explore');
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('.share[data-worker]')].length === 2 &&
        [...document.querySelectorAll('.share[data-worker]')].every(
          (e) => Number((e as HTMLElement).dataset.schedules) > 0,
        ),
      null,
      { timeout: 120_000 },
    );
    expect(Number(await page.getAttribute('#explore-bar', 'max'))).toBe(1_000_000);
    expect(await page.isDisabled('#explore')).toBe(true);
    await page.click('#explore-stop');
    await page.waitForSelector('#explore-report', { timeout: 120_000 });
    const got = JSON.parse((await page.getAttribute('#explore-report', 'data-json'))!) as ExploreReport;
    expect(got.failure).toBeNull();
    expect(got.workers).toHaveLength(2);
    expect(got.schedules).toBeGreaterThan(0);
    expect(got.schedules).toBeLessThan(1_000_000);
    expect(got.schedules).toBe(got.workers!.reduce((n, w) => n + w.schedules, 0));
    expect(await page.textContent('#explore-progress')).toBe(
      `stopped: no violation in ${got.schedules} schedules`,
    );
    expect(await page.isDisabled('#explore')).toBe(false);
    expect(pool.started()).toBe(2);
    await expect.poll(() => pool.alive()).toBe(0);
    await page.close();
    expect(s.errors).toEqual([]);
  });
});
