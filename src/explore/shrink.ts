/**
 * Shrinking a failing schedule: delta debugging (Zeller and Hildebrandt, 2002) over its list of
 * choices, re-running the scenario for every candidate. First chunks of the list are dropped
 * (the later choices move to earlier decision points), then every non-zero choice is set to 0
 * ("no preemption") and every choice above 1 lowered to 1. A candidate is kept when its run
 * violates the same oracle and its recorded choices are simpler: fewer (trailing zeros not
 * counted), or as many with fewer non-zero ones, or as many non-zero ones with a smaller sum.
 * So the shrunk schedule is never longer than the original, and shrinking always ends.
 * @module
 */
import { trimChoices } from './replay-token.ts';
import { type RunOptions, runSchedule } from './runner.ts';
import { ListChooser } from './strategies/list.ts';
import type { Scenario, ScheduleResult } from './types.ts';

/** Default bound on the re-runs of one shrink. */
export const DEFAULT_SHRINK_RUNS = 500;

/** Options of {@link shrinkSchedule}. */
export interface ShrinkOptions extends RunOptions {
  /** Most re-runs (default {@link DEFAULT_SHRINK_RUNS}). */
  readonly maxRuns?: number;
}

/** What {@link shrinkSchedule} found. */
export interface ShrinkResult {
  /** The simplest failing choices found (trailing zeros dropped). */
  readonly choices: readonly number[];
  /** Re-runs made. */
  readonly runs: number;
  /** The bound on re-runs it had. */
  readonly maxRuns: number;
  /** True when some simpler failing schedule was found (shorter, fewer preemptions or smaller). */
  readonly reduced: boolean;
}

/** Ordering of choice lists by simplicity: length, then non-zero choices, then sum. */
function simpler(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return a.length < b.length;
  let nzA = 0;
  let nzB = 0;
  let sumA = 0;
  let sumB = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== 0) nzA++;
    if (b[i] !== 0) nzB++;
    sumA += a[i]!;
    sumB += b[i]!;
  }
  return nzA !== nzB ? nzA < nzB : sumA < sumB;
}

/**
 * Shrinks `choices`, a schedule of `scenario` that violated `oracle`, within `maxRuns` re-runs.
 * The oracles, seed and mutant of `options` must be those the failure was found with.
 */
export async function shrinkSchedule<S>(
  scenario: Scenario<S>,
  choices: readonly number[],
  oracle: string,
  options: ShrinkOptions,
): Promise<ShrinkResult> {
  const maxRuns = options.maxRuns ?? DEFAULT_SHRINK_RUNS;
  const runOptions: RunOptions = { ...options, record: false };
  let best = trimChoices(choices);
  let runs = 0;
  let reduced = false;

  /** Runs `candidate`; true (and `best` updated) when it fails the same way and is simpler. */
  const attempt = async (candidate: readonly number[]): Promise<boolean> => {
    runs++;
    const r: ScheduleResult = await runSchedule(scenario, new ListChooser(candidate, false), runOptions);
    if (r.violation === null || r.violation.oracle !== oracle) return false;
    const recorded = trimChoices(r.choices);
    if (!simpler(recorded, best)) return false;
    best = recorded;
    reduced = true;
    return true;
  };

  // Phase 1: drop chunks, halving their size when none can go.
  let n = 2;
  while (best.length > 0 && runs < maxRuns) {
    const size = Math.ceil(best.length / n);
    let reduced = false;
    for (let start = 0; start < best.length && runs < maxRuns; start += size) {
      if (await attempt([...best.slice(0, start), ...best.slice(start + size)])) {
        reduced = true;
        n = Math.max(n - 1, 2);
        break;
      }
    }
    if (reduced) continue;
    if (size === 1) break;
    n = Math.min(n * 2, best.length);
  }

  // Phase 2: no preemption where none is needed, then the smallest choice where one is.
  for (const lower of [(_: number) => 0, (v: number) => Math.min(v, 1)]) {
    for (let i = 0; i < best.length && runs < maxRuns; i++) {
      const v = best[i]!;
      const w = lower(v);
      if (w === v) continue;
      const candidate = best.slice();
      candidate[i] = w;
      // On success `best` changed (maybe shorter); index i is looked at again.
      if (await attempt(candidate)) i--;
    }
  }
  return { choices: best, runs, maxRuns, reduced };
}
