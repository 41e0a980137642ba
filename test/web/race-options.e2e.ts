/**
 * Race mode's explorer options in a real browser: the fields of `hmmsim explore` (--depth,
 * --bound, --seconds, and the budget and seed) reach the pooled run — its report, and the report
 * saved, equal the CLI's `--json` for the same options — a mistaken value is shown at its field
 * in the CLI's words, and a simulated thread that awaits something outside the simulation ends
 * the exploration with the CLI's error instead of hanging its worker.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExploreReport } from '../../src/explore/types.ts';
import { encodeShare } from '../../web/src/model/share.ts';
import { hmmsim, type Session, startSession, watchPoolWorkers } from './browser.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const RACE = 'device-read-vs-munmap';
const RACE_FILE = path.join(ROOT, `examples/scenarios/${RACE}.json`);
const TMP = mkdtempSync(path.join(tmpdir(), 'hmmsim-race-options-'));

let s: Session;
beforeAll(async () => {
  s = await startSession();
});
afterAll(async () => {
  await s?.close();
  rmSync(TMP, { recursive: true, force: true });
});

function stable(r: ExploreReport): unknown {
  const { elapsedMs: _e, ...rest } = r;
  return JSON.parse(JSON.stringify(rest));
}

/** Race mode with its fields set (an absent field is left empty: the default applies). */
async function fillRace(
  page: Page,
  o: { source?: string; strategy?: string; fields?: Record<string, string>; workers?: number },
): Promise<void> {
  await page.click('header .modes button:has-text("Race")');
  await page.selectOption('#mutant', o.source ?? '');
  await page.selectOption('#strategy', o.strategy ?? '');
  for (const [f, v] of Object.entries(o.fields ?? {})) await page.fill(`#${f}`, v);
  await page.fill('#workers', String(o.workers ?? 1));
}

/** Explores and resolves to the page's report and the file "⤓ report" saves. */
async function explored(page: Page): Promise<{ report: unknown; saved: { report: ExploreReport } }> {
  await page.click('#explore');
  await page.waitForSelector('#explore-report', { timeout: 240_000 });
  const report = JSON.parse((await page.getAttribute('#explore-report', 'data-json'))!);
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#explore-download')]);
  const saved = JSON.parse(readFileSync((await dl.path())!, 'utf8'));
  return { report, saved };
}

/** The CLI's report for the race example with `args`. */
async function cli(args: string[], file = RACE_FILE): Promise<ExploreReport> {
  const r = await hmmsim(['explore', file, ...args, '--json']);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out).report as ExploreReport;
}

/** The one-line usage error `hmmsim explore` prints for `args` (without its `hmmsim: `). */
async function cliUsage(args: string[]): Promise<string> {
  const r = await hmmsim(['explore', RACE_FILE, ...args]);
  expect(r.code).toBe(2);
  return r.err.split('\n')[0]!.replace(/^hmmsim: /, '');
}

describe('Race mode takes hmmsim explore’s options', () => {
  it('--depth reaches the pooled run and the saved report (pct)', async () => {
    const args = ['--strategy', 'pct', '--schedules', '30', '--seed', '2'];
    const deep = await cli([...args, '--depth', '3']);
    // The depth changes the report: a run that dropped it would not match.
    expect(stable(await cli([...args, '--depth', '1']))).not.toEqual(stable(deep));
    const page = await s.open(`?scenario=${RACE}`);
    await fillRace(page, { strategy: 'pct', fields: { schedules: '30', seed: '2', depth: '3' } });
    const got = await explored(page);
    expect(got.report).toEqual(stable(deep));
    expect(stable(got.saved.report)).toEqual(stable(deep));
    await page.close();
    expect(s.errors).toEqual([]);
  });

  it('--bound reaches the exhaustive search, on one worker whatever the workers field says', async () => {
    const bounded = await cli(['--strategy', 'exhaustive', '--bound', '0']);
    expect(bounded.exhausted).toBe(true);
    expect(stable(await cli(['--strategy', 'exhaustive', '--bound', '1']))).not.toEqual(stable(bounded));
    const page = await s.open(`?scenario=${RACE}`);
    const pool = watchPoolWorkers(page);
    await fillRace(page, { strategy: 'exhaustive', fields: { bound: '0' }, workers: 4 });
    const got = await explored(page);
    expect(got.report).toEqual(stable(bounded));
    expect(stable(got.saved.report)).toEqual(stable(bounded));
    expect(pool.started()).toBe(1);
    await page.close();
    expect(s.errors).toEqual([]);
  });

  it('--seconds: alone a time budget (the file’s schedule count no longer caps it), else whichever ends first', async () => {
    const text = JSON.stringify({
      ...JSON.parse(readFileSync(RACE_FILE, 'utf8')),
      explore: { strategy: 'random', schedules: 2 },
    });
    const page = await s.open(`?share=${await encodeShare(text)}`);
    await fillRace(page, {});
    // Empty fields stand for the defaults, the file's among them.
    expect(await page.getAttribute('#schedules', 'placeholder')).toBe('2');
    expect(await page.getAttribute('#seed', 'placeholder')).toBe('1');
    await page.fill('#seconds', '1.5');
    expect(await page.getAttribute('#schedules', 'placeholder')).toBe('none');
    const alone = await explored(page);
    expect(alone.saved.report.elapsedMs).toBeGreaterThanOrEqual(1500);
    expect(alone.saved.report.schedules).toBeGreaterThan(2);
    // The CLI does the same with the same file.
    const file = path.join(TMP, 'two.json');
    writeFileSync(file, text);
    expect((await cli(['--seconds', '1.5'], file)).schedules).toBeGreaterThan(2);
    // With a budget of a million schedules, the time ends the run.
    await page.fill('#schedules', '1000000');
    await page.fill('#seconds', '1');
    const both = await explored(page);
    expect(both.saved.report.schedules).toBeLessThan(1_000_000);
    expect(both.saved.report.elapsedMs).toBeGreaterThanOrEqual(1000);
    await page.close();
    expect(s.errors).toEqual([]);
  });

  it('shows a mistaken value at its field in the CLI’s words, and will not explore', async () => {
    const page = await s.open(`?scenario=${RACE}`);
    await fillRace(page, { strategy: 'pct' });
    const cases: [string, string, string[]][] = [
      ['depth', '0', ['--strategy', 'pct', '--depth', '0']],
      ['bound', '-1', ['--strategy', 'exhaustive', '--bound', '-1']],
      ['seconds', '0', ['--seconds', '0']],
      ['seconds', 'abc', ['--seconds', 'abc']],
      ['schedules', '1.5', ['--schedules', '1.5']],
      ['seed', '-3', ['--seed', '-3']],
    ];
    for (const [field, value, args] of cases) {
      await page.fill(`#${field}`, value);
      expect(await page.textContent(`#${field}-error`)).toBe(await cliUsage(args));
      expect(await page.isDisabled('#explore')).toBe(true);
      await page.fill(`#${field}`, '');
      await page.waitForSelector(`#${field}-error`, { state: 'detached' });
    }
    expect(await page.isDisabled('#explore')).toBe(false);
    // An option of another strategy: the scenario's default strategy is random.
    await page.selectOption('#strategy', '');
    await page.fill('#depth', '2');
    expect(await page.textContent('#depth-error')).toBe(await cliUsage(['--depth', '2']));
    await page.fill('#bound', '2');
    expect(await page.textContent('#bound-error')).toBe(await cliUsage(['--bound', '2']));
    expect(await page.isDisabled('#explore')).toBe(true);
    await page.selectOption('#strategy', 'pct');
    await page.waitForSelector('#depth-error', { state: 'detached' });
    expect(await page.textContent('#bound-error')).toBe('--bound applies to --strategy exhaustive');
    await page.close();
    expect(s.errors).toEqual([]);
  });
});

/** A scenario module whose thread awaits a promise nothing in the simulation will settle. */
const HANG = `export default {
  name: 'awaits-outside',
  setup() { return {}; },
  threads: {
    waiter: async () => { await new Promise(() => {}); },
    other: async () => {},
  },
};
`;

describe('a thread awaiting something outside the simulation', () => {
  it('ends the exploration with the CLI’s error, on one worker and on two, every worker ended', async () => {
    const file = path.join(TMP, 'awaits-outside.mjs');
    writeFileSync(file, HANG);
    const r = await hmmsim(['explore', file, '--schedules', '5', '--json']);
    expect(r.code).toBe(3);
    const error = JSON.parse(r.out).error as string;
    expect(error).toMatch(/^ScenarioError: scenario "awaits-outside": simulated thread #1 waiter awaited/);
    const url = `data:text/javascript,${encodeURIComponent(HANG)}`;
    const page = await s.open(`?scenario=${RACE}`);
    const pool = watchPoolWorkers(page);
    await fillRace(page, { source: '@module', fields: { schedules: '5' } });
    await page.fill('#module-url', url);
    await page.click('#explore');
    await page.waitForFunction(() => !document.querySelector('#explore')?.hasAttribute('disabled'), null, {
      timeout: 120_000,
    });
    expect(await page.textContent('#explore-progress')).toBe(`explore worker 0: ${error}`);
    await expect.poll(() => pool.alive()).toBe(0);
    // Two workers: the first to fail ends the run, and the other is ended with it.
    await page.fill('#workers', '2');
    await page.click('#explore');
    await page.waitForFunction(
      () =>
        !document.querySelector('#explore')?.hasAttribute('disabled') &&
        /awaited/.test(document.querySelector('#explore-progress')?.textContent ?? ''),
      null,
      { timeout: 120_000 },
    );
    expect(await page.textContent('#explore-progress')).toMatch(
      /^explore worker [01]: ScenarioError: scenario "awaits-outside": simulated thread #1 waiter awaited something outside the simulation after "start"/,
    );
    expect(pool.started()).toBe(3);
    await expect.poll(() => pool.alive()).toBe(0);
    expect(await page.$('#explore-report')).toBeNull();
    await page.close();
    expect(s.errors).toEqual([]);
  });

  it('a module that exports no scenario, or fails to load, is refused with the CLI’s message', async () => {
    const page = await s.open(`?scenario=${RACE}`);
    const pool = watchPoolWorkers(page);
    await fillRace(page, { source: '@module' });
    for (const [name, text] of [
      ['empty.mjs', 'export default {};\n'],
      ['throws.mjs', "throw new Error('broken module');\n"],
    ] as const) {
      const file = path.join(TMP, name);
      writeFileSync(file, text);
      const r = await hmmsim(['explore', file]);
      expect(r.code).toBe(3);
      const url = `data:text/javascript,${encodeURIComponent(text)}`;
      await page.fill('#module-url', url);
      await page.click('#explore');
      await page.waitForFunction(() => !document.querySelector('#explore')?.hasAttribute('disabled'));
      // The same message, after the file's name (the page names the module by its URL).
      expect(await page.textContent('#explore-progress')).toBe(`${url}${r.err.trim().slice(file.length)}`);
    }
    expect(pool.started()).toBe(0);
    await page.close();
    expect(s.errors).toEqual([]);
  });
});
