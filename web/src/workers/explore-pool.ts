/**
 * The page's {@link ExplorePool}: every share of a Race-mode exploration runs in a Web Worker of
 * its own (explore-pool.worker.ts), which rebuilds the scenario from its source (a mutant, or
 * scenario text read with the CLI's parser) and runs {@link exploreShare}. The explorer core plans
 * the shares, says when a worker may stop and merges the reports, exactly as for the CLI's
 * worker_threads pool (src/cli/explore-pool.ts): the report is the same whichever pool runs them.
 * This module only carries shares and replies across threads, and runs the exploration.
 * @module
 */

import {
  type ExploreFlags,
  type ExploreSettings,
  exploreSettings,
} from '../../../src/cli/explore-settings.ts';
import { explore } from '../../../src/explore/explore.ts';
import type {
  ExploreOptions,
  ExplorePool,
  ExploreProgress,
  ExploreReport,
} from '../../../src/explore/types.ts';
import type { Invalid } from '../model/scenario-text.ts';
import {
  type PoolCommand,
  type PoolMessage,
  type PoolSource,
  scenarioOfSource,
} from './explore-pool-source.ts';

export type { PoolSource } from './explore-pool-source.ts';

/** The most workers the page offers, whatever the machine says (each is a full simulator). */
export const MAX_PAGE_WORKERS = 16;

/** The default worker count: the browser's logical processors, capped. */
export function defaultWorkers(): number {
  const n = typeof navigator === 'undefined' ? 1 : (navigator.hardwareConcurrency ?? 1);
  return Math.max(1, Math.min(n, MAX_PAGE_WORKERS));
}

/** A pool of Web Workers, one per share, that can also be torn down at once. */
export interface WebWorkerPool extends ExplorePool {
  /** Terminates every worker still running (their reports then never come). */
  terminate(): void;
}

/**
 * A pool whose workers rebuild the scenario from `source`; `onShare` hears each share's own
 * progress (worker index, schedules it ran so far).
 */
export function webWorkerPool(
  source: PoolSource,
  onShare?: (worker: number, schedules: number) => void,
): WebWorkerPool {
  const live = new Set<Worker>();
  return {
    start(share, events) {
      const worker = new Worker(new URL('./explore-pool.worker.ts', import.meta.url), { type: 'module' });
      live.add(worker);
      const report = new Promise<ExploreReport>((resolve, reject) => {
        const end = (): void => {
          live.delete(worker);
          worker.terminate();
        };
        worker.onmessage = (e: MessageEvent<PoolMessage>) => {
          const m = e.data;
          if (m.type === 'progress') {
            onShare?.(share.worker, m.progress.schedules);
            events.progress(m.progress);
            return;
          }
          end();
          if (m.type === 'report') {
            onShare?.(share.worker, m.report.schedules);
            resolve(m.report);
          } else reject(new Error(`explore worker ${share.worker}: ${m.message}`));
        };
        worker.onerror = (e) => {
          end();
          reject(new Error(`explore worker ${share.worker}: ${e.message || 'failed to start'}`));
        };
      });
      worker.postMessage({ type: 'start', source, share } satisfies PoolCommand);
      return {
        report,
        stopAfter(schedules) {
          if (live.has(worker)) worker.postMessage({ type: 'stopAfter', schedules } satisfies PoolCommand);
        },
      };
    },
    terminate() {
      for (const w of live) w.terminate();
      live.clear();
    },
  };
}

/** How to explore, as the Race panel asks. */
export interface PooledOptions {
  /**
   * The options of `hmmsim explore` given (strategy, schedules, seconds, seed, depth, bound);
   * those not given take the source's defaults (a mutant's, the scenario file's `explore`), as
   * the CLI's {@link exploreSettings} resolves them.
   */
  readonly flags: ExploreFlags;
  /** Web Workers; capped at the schedules (more have nothing to do, as in the CLI). */
  readonly workers: number;
  /** Summed progress of the shares. */
  readonly onProgress?: (p: ExploreProgress) => void;
  /** Each share's own progress. */
  readonly onShare?: (worker: number, schedules: number) => void;
  /** Asked at each progress report: true stops every worker after its current schedule. */
  readonly shouldStop?: () => boolean;
}

/**
 * The Web Workers an exploration with `settings` runs on when `asked` for: at most one per
 * schedule, and one for an exhaustive search (its schedules have no seed to share out).
 */
export function pooledWorkers(asked: number, settings: ExploreSettings): number {
  if (settings.strategy === 'exhaustive') return 1;
  return Math.max(1, Math.min(asked, settings.schedules ?? Number.POSITIVE_INFINITY));
}

/** A running exploration: its outcome, and a way to tear its workers down. */
export interface PooledRun {
  /**
   * The merged report, or the issues of the scenario text or module. Rejects with the CLI's
   * message for options that do not combine, and with a worker's error (every other worker is
   * then ended).
   */
  readonly done: Promise<ExploreReport | Invalid>;
  /** Terminates the workers at once (no report: `shouldStop` is the way to get one). */
  terminate(): void;
}

/**
 * Explores `source` on Web Workers through the core's {@link explore}: the core plans the shares
 * and merges their reports, so the report equals `hmmsim explore --workers N` with the same
 * options (and the in-thread run with the same workers) field for field, elapsed time aside. With
 * one worker the share's own report is the report (what `explore` does with one share), still
 * off this thread.
 */
export function explorePooled(source: PoolSource, o: PooledOptions): PooledRun {
  const pool = webWorkerPool(source, o.onShare);
  const run = async (): Promise<ExploreReport | Invalid> => {
    const got = await scenarioOfSource(source);
    if ('kind' in got) return got;
    const s = exploreSettings(o.flags, got.defaults);
    const workers = pooledWorkers(o.workers, s);
    const budget = {
      ...(s.schedules === undefined ? {} : { schedules: s.schedules }),
      ...(s.seconds === undefined ? {} : { seconds: s.seconds }),
      ...(s.depth === undefined ? {} : { depth: s.depth }),
      ...(s.bound === undefined ? {} : { preemptionBound: s.bound }),
    };
    const options: ExploreOptions<unknown> = {
      ...got.scenario,
      strategy: s.strategy,
      ...budget,
      seed: s.seed,
      mutant: got.mutant as ExploreOptions<unknown>['mutant'],
      now: () => performance.now(),
      progressEvery: 10,
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.shouldStop ? { shouldStop: o.shouldStop } : {}),
    };
    if (workers > 1) return explore({ ...options, workers, pool });
    // One share: explore() would run it on this thread; run it as the pool's share 0 instead.
    // The share is what explore() itself plans for one worker: the seed and the whole budget.
    const one = pool.start(
      {
        worker: 0,
        scenario: got.scenario.name,
        strategy: s.strategy,
        seed: s.seed,
        ...budget,
        schedules: s.schedules ?? Number.POSITIVE_INFINITY,
        mutant: options.mutant ?? null,
        shrink: true,
        progressEvery: 10,
      },
      {
        progress(p) {
          o.onProgress?.(p);
          if (o.shouldStop?.()) one.stopAfter(0);
        },
      },
    );
    if (o.shouldStop?.()) one.stopAfter(0);
    return one.report;
  };
  return {
    // A failed share fails the exploration: the other workers have nothing left to report to.
    done: run().catch((e: unknown) => {
      pool.terminate();
      throw e;
    }),
    terminate: () => pool.terminate(),
  };
}
