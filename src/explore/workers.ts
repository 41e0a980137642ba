/**
 * Explorations with workers. `explore({ workers: W, pool })` splits the budget into W shares —
 * share k explores seed `seed + g` (g = shard index + k · shard count) with its part of the budget
 * — and hands each to an {@link ExplorePool}, which runs it where it can: one after another in
 * this thread (the default, {@link inThreadPool}), in worker_threads (the CLI), in Web Workers.
 * The core starts no thread itself: it stays free of any host API.
 *
 * The merged report does not depend on the pool or on timing. The failure reported is the first
 * by (schedule, worker); once one is known, a worker that can no longer beat it is told to stop,
 * and every worker's part is cut where the winner puts it (a worker after the winner counts the
 * schedules before the winner's, one before it those up to and including it), so a worker that
 * went further before hearing of the failure adds neither schedules, failures nor coverage. With
 * a schedule budget the report therefore equals the in-thread run's, field for field, except
 * elapsed time.
 * @module
 */
import { UsageError } from '../sim/errors.ts';
import type { SchedulerHost } from '../sim/scheduler.ts';
import { uniteCoverage } from './coverage.ts';
import type { Oracle } from './oracle.ts';
import type {
  ExploreOptions,
  ExplorePool,
  ExploreProgress,
  ExploreReport,
  ExploreShard,
  ExploreShare,
  ExploreShareRun,
  Scenario,
} from './types.ts';

/** The most workers one exploration takes. */
export const MAX_WORKERS = 1024;

/** Splits `total` schedules among `n` (the first ones get one more when it does not divide). */
export function splitBudget(total: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
}

/** One worker's part of an exploration: its seed and its budget in schedules. */
export interface SharePlan {
  /** The worker's seed. */
  readonly seed: number;
  /** Its budget in schedules (Infinity: only the time budget). */
  readonly schedules: number;
}

/**
 * The seeds and budgets of shard `shard` running `workers` workers, out of `total` schedules
 * (Infinity: a time budget) from base seed `seed`. Global worker g = I + k·N gets seed s + g and
 * the g-th share of the budget among N·W; shares of 0 schedules are left out.
 */
export function planShares(seed: number, total: number, shard: ExploreShard, workers: number): SharePlan[] {
  const all = shard.count * workers;
  const shares = Number.isFinite(total) ? splitBudget(total, all) : new Array<number>(all).fill(total);
  const out: SharePlan[] = [];
  for (let k = 0; k < workers; k++) {
    const g = shard.index + k * shard.count;
    if (shares[g]! > 0) out.push({ seed: seed + g, schedules: shares[g]! });
  }
  return out;
}

/** Host hooks of a worker running a share (what cannot cross threads). */
export interface ExploreShareHooks {
  /** The worker's clock, ms (needed with a time budget). */
  readonly now?: () => number;
  /** Host hooks of the machines' schedulers. */
  readonly host?: SchedulerHost;
  /** Lets the worker's event loop run (e.g. to hear `stopAfter`). */
  readonly pause?: () => Promise<void>;
  /** Oracles (default `defaultOracles()`). */
  readonly oracles?: readonly Oracle[];
  /** The share's progress. */
  readonly onProgress?: (progress: ExploreProgress) => void;
  /** How many schedules the share may stop after (polled before each schedule). */
  readonly stopAfter?: () => number;
  /** Explores (given by the caller to keep this module free of a cycle with explore.ts). */
  readonly explore: <S>(options: ExploreOptions<S>) => Promise<ExploreReport>;
}

/**
 * Runs one share in a worker: `scenario` rebuilt by the worker from its source, `share` as the
 * pool received it. What a pool's worker calls.
 */
export async function exploreShare<S>(
  scenario: Scenario<S>,
  share: ExploreShare,
  hooks: ExploreShareHooks,
): Promise<ExploreReport> {
  if (scenario.name !== share.scenario)
    throw new UsageError(
      'exploreShare(scenario)',
      `the worker rebuilt scenario "${scenario.name}", but the share is of "${share.scenario}"`,
    );
  const stopAfter = hooks.stopAfter;
  return hooks.explore({
    ...scenario,
    strategy: share.strategy,
    ...(Number.isFinite(share.schedules) ? { schedules: share.schedules } : {}),
    ...(share.seconds === undefined ? {} : { seconds: share.seconds }),
    seed: share.seed,
    ...(share.depth === undefined ? {} : { depth: share.depth }),
    ...(share.preemptionBound === undefined ? {} : { preemptionBound: share.preemptionBound }),
    mutant: share.mutant,
    shrink: share.shrink,
    progressEvery: share.progressEvery,
    ...(hooks.now === undefined ? {} : { now: hooks.now }),
    ...(hooks.host === undefined ? {} : { host: hooks.host }),
    ...(hooks.pause === undefined ? {} : { pause: hooks.pause }),
    ...(hooks.oracles === undefined ? {} : { oracles: hooks.oracles }),
    ...(hooks.onProgress === undefined ? {} : { onProgress: hooks.onProgress }),
    ...(stopAfter === undefined ? {} : { shouldStop: (n: number) => n >= stopAfter() }),
  });
}

/**
 * The default pool: runs the shares one after another in this thread, with the exploration's
 * own scenario, oracles and host hooks (shares never overlap: the simulation keeps scratch state
 * per thread).
 */
export function inThreadPool<S>(
  options: ExploreOptions<S>,
  explore: <T>(o: ExploreOptions<T>) => Promise<ExploreReport>,
): ExplorePool {
  let queue: Promise<unknown> = Promise.resolve();
  return {
    start(share, events) {
      let limit = Number.POSITIVE_INFINITY;
      const report = queue.then(() =>
        exploreShare(options, share, {
          explore,
          ...(options.now === undefined ? {} : { now: options.now }),
          ...(options.host === undefined ? {} : { host: options.host }),
          ...(options.pause === undefined ? {} : { pause: options.pause }),
          ...(options.oracles === undefined ? {} : { oracles: options.oracles }),
          onProgress: (p) => events.progress(p),
          stopAfter: () => limit,
        }),
      );
      queue = report.catch(() => undefined);
      return {
        report,
        stopAfter(n) {
          limit = Math.min(limit, n);
        },
      };
    },
  };
}

/** The place of a failure in the merge order. */
interface Place {
  readonly schedule: number;
  readonly worker: number;
}

const before = (a: Place, b: Place): boolean =>
  a.schedule < b.schedule || (a.schedule === b.schedule && a.worker < b.worker);

/** Schedules worker `w` must run so that no failure before `best` is missed. */
const needed = (w: number, best: Place | null): number =>
  best === null ? Number.POSITIVE_INFINITY : best.worker >= w ? best.schedule + 1 : best.schedule;

/**
 * Merges the workers' reports (in worker order): the first failure by (schedule, worker), every
 * worker's schedules, failure and coverage cut where that failure puts them.
 */
export function mergeShareReports(reports: readonly ExploreReport[]): ExploreReport {
  let winner: Place | null = null;
  for (let worker = 0; worker < reports.length; worker++) {
    const f = reports[worker]!.failure;
    if (f === null) continue;
    const p = { schedule: f.schedule, worker };
    if (winner === null || before(p, winner)) winner = p;
  }
  const counted = reports.map((r, w) => Math.min(r.schedules, needed(w, winner)));
  const first = reports[0]!;
  const failing = winner === null ? null : reports[winner.worker]!;
  const coverage = uniteCoverage(
    reports.map((r) => r.coverage),
    counted,
  );
  return {
    scenario: first.scenario,
    strategy: first.strategy,
    mutant: first.mutant,
    seed: failing?.seed ?? first.seed,
    schedules: counted.reduce((a, b) => a + b, 0),
    exhausted: reports.every((r) => r.exhausted),
    elapsedMs: Math.max(...reports.map((r) => r.elapsedMs)),
    failure: failing?.failure ?? null,
    ...(coverage === null ? {} : { coverage }),
    workers: reports.map((r, w) => ({ seed: r.seed, schedules: counted[w]!, failed: r === failing })),
  };
}

/**
 * Runs `options` on its workers through its pool (the caller checked the options) and merges
 * their reports. Progress is the sum of the workers'; `shouldStop` is asked at every progress
 * report and, when true, stops every worker after its current schedule.
 */
export async function exploreWithWorkers<S>(
  options: ExploreOptions<S>,
  plan: readonly SharePlan[],
  explore: <T>(o: ExploreOptions<T>) => Promise<ExploreReport>,
): Promise<ExploreReport> {
  const pool = options.pool ?? inThreadPool(options, explore);
  const t0 = options.now?.() ?? 0;
  const done = new Array<number>(plan.length).fill(0);
  const budget = plan.reduce((n, p) => n + p.schedules, 0);
  let best: Place | null = null;
  let violations = 0;
  const runs: ExploreShareRun[] = [];
  const stopAll = (): void => {
    for (const r of runs) r.stopAfter(0);
  };
  const progress = (): void => {
    if (options.shouldStop?.(done.reduce((a, b) => a + b, 0))) stopAll();
    options.onProgress?.({
      schedules: done.reduce((a, b) => a + b, 0),
      budget,
      elapsedMs: (options.now?.() ?? 0) - t0,
      violations,
    });
  };
  const reports = plan.map(({ seed, schedules }, worker) => {
    const run = pool.start(
      {
        worker,
        scenario: options.name,
        strategy: options.strategy ?? 'portfolio',
        seed,
        schedules,
        ...(options.seconds === undefined ? {} : { seconds: options.seconds }),
        ...(options.depth === undefined ? {} : { depth: options.depth }),
        ...(options.preemptionBound === undefined ? {} : { preemptionBound: options.preemptionBound }),
        mutant: options.mutant ?? null,
        shrink: options.shrink ?? true,
        progressEvery: options.progressEvery ?? 100,
      },
      {
        progress(p) {
          done[worker] = p.schedules;
          if (p.violations > 0) {
            violations = 1;
            // The failing schedule is the last one the worker ran.
            const at = { schedule: p.schedules - 1, worker };
            if (best === null || before(at, best)) {
              best = at;
              runs.forEach((r, w) => {
                r.stopAfter(needed(w, at));
              });
            }
          }
          progress();
        },
      },
    );
    runs.push(run);
    return run.report;
  });
  if (options.shouldStop?.(0)) stopAll();
  return mergeShareReports(await Promise.all(reports));
}
