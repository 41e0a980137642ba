/**
 * Stepping a race by decision point, in a real browser: mutant D2's failing schedule (the token
 * from `hmmsim explore`) visited decision by decision, forwards and back, lands on exactly the
 * account's decision steps as the CLI's replay prints them, in order, and the cursor follows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hmmsim, type Session, startSession } from './browser.ts';

let s: Session;
beforeAll(async () => {
  s = await startSession();
});
afterAll(async () => {
  await s?.close();
});

describe('race: step by decision', () => {
  it("visits mutant D2's decision points in order, forwards and back", async () => {
    const found = await hmmsim(['explore', '--mutant', 'D2', '--json']);
    expect(found.code).toBe(1);
    const token: string = JSON.parse(found.out).report.failure.shrunkToken;
    const cli = await hmmsim(['explore', '--mutant', 'D2', '--replay', token]);
    // The CLI's account: `N [  t µs] #k name  what` per step; decision steps say `decision N at`.
    const whats = cli.out
      .split('\n')
      .map((l) => /^\s*(\d+) \[\s*[\d.]+ µs\] #\d+ \S+\s+(?:» )?(.*)$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => m[2]!);
    const decisions = whats.flatMap((w, i) => (/^decision \d+ at /.test(w) ? [i] : []));
    expect(decisions.length).toBeGreaterThan(1);
    const page = await s.open(`?token=${encodeURIComponent(token)}`);
    await page.click('#race-first');
    const stepNow = async () => Number(await page.getAttribute('#race-step-text', 'data-step'));
    expect(await stepNow()).toBe(0);
    const visited: number[] = [];
    while (!(await page.isDisabled('#race-next-decision'))) {
      await page.click('#race-next-decision');
      const j = await stepNow();
      visited.push(j);
      expect(await page.textContent('#race-step-text')).toContain(`· ${whats[j]}`);
    }
    // Step 0 is itself a decision when the schedule starts with one.
    expect([...(decisions[0] === 0 ? [0] : []), ...visited]).toEqual(decisions);
    const back: number[] = [];
    while (!(await page.isDisabled('#race-prev-decision'))) {
      const before = await page.evaluate(() => window.__hmmsim.cursor());
      await page.click('#race-prev-decision');
      back.push(await stepNow());
      expect(await page.evaluate(() => window.__hmmsim.cursor())).toBeLessThanOrEqual(before);
    }
    expect(back).toEqual(decisions.slice(0, -1).reverse());
    await page.close();
    expect(s.errors).toEqual([]);
  });
});
