/**
 * The CLI's {@link ExplorePool}: every share of `hmmsim explore --workers N` runs in a
 * worker_threads worker that rebuilds the scenario from its source (a scenario file, a module or
 * a mutant) and runs {@link exploreShare}. The explorer core decides the shares, when a worker
 * may stop and how reports merge; this file only carries them across threads.
 * @module
 */
import { Worker } from 'node:worker_threads';
import type { ExplorePool, ExploreProgress, ExploreReport, ExploreShare } from '../explore/index.ts';
import { CliCheckFailed, CliError, EXIT_SCENARIO } from './errors.ts';

/** Where the scenario of an exploration comes from (what a worker needs to rebuild it). */
export type ExploreSource =
  | { readonly kind: 'file'; readonly path: string; readonly display: string }
  | { readonly kind: 'module'; readonly path: string; readonly display: string }
  | { readonly kind: 'mutant'; readonly id: string };

/** What the main thread tells a worker: the schedules after which it may stop. */
export interface WorkerCommand {
  readonly type: 'stopAfter';
  readonly schedules: number;
}

/** Messages a worker posts. */
export type WorkerMessage =
  | { readonly type: 'progress'; readonly progress: ExploreProgress }
  | { readonly type: 'report'; readonly report: ExploreReport }
  | {
      readonly type: 'error';
      /** `name: message`, printed as the CLI prints an internal error. */
      readonly message: string;
      /** The worker's stack, shown only under `HMMSIM_DEBUG=1` as the main thread's are. */
      readonly stack?: string | undefined;
      /** The error is the scenario's fault (the core's `ScenarioError`): exit 3, no stack. */
      readonly scenario?: boolean;
    }
  | { readonly type: 'setup-failed'; readonly message: string };

/**
 * The worker's entry: the built `explore-worker.js` next to this module, or, when the CLI runs
 * from the TypeScript sources (tests, `scripts/hmmsim-dev.mjs`), a launcher that loads tsx first
 * (a worker thread does not inherit the main thread's loader).
 */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('../../scripts/explore-worker-dev.mjs', import.meta.url)
    : new URL('./explore-worker.js', import.meta.url);
}

/** A pool of worker_threads workers, one per share, each rebuilding the scenario from `source`. */
export function workerThreadPool(source: ExploreSource): ExplorePool {
  const url = workerUrl();
  return {
    start(share: ExploreShare, events) {
      const worker = new Worker(url, {
        workerData: { source, share },
        // A larger young generation: each schedule allocates a fresh machine, and with the
        // default semi-space most of them survive a scavenge (docs/performance.md).
        resourceLimits: { maxYoungGenerationSizeMb: 64 },
      });
      const report = new Promise<ExploreReport>((resolve, reject) => {
        let got: ExploreReport | null = null;
        worker.on('message', (m: WorkerMessage) => {
          if (m.type === 'progress') events.progress(m.progress);
          else if (m.type === 'report') got = m.report;
          else if (m.type === 'setup-failed') reject(new CliCheckFailed(m.message));
          else if (m.scenario === true)
            reject(new CliError(`explore worker ${share.worker}: ${m.message}`, EXIT_SCENARIO));
          else {
            const err = new Error(`explore worker ${share.worker}: ${m.message}`);
            // The worker's frames (its stack repeats the message), for HMMSIM_DEBUG=1 only.
            const frames = m.stack?.split('\n').filter((l) => /^\s+at /.test(l)) ?? [];
            err.stack = [`${err.name}: ${err.message}`, '  in the worker:', ...frames].join('\n');
            reject(err);
          }
        });
        worker.on('error', reject);
        worker.on('exit', (code) => {
          if (got !== null) resolve(got);
          else reject(new Error(`explore worker ${share.worker} exited with code ${code} without a report`));
        });
      });
      return {
        report,
        stopAfter(schedules) {
          worker.postMessage({ type: 'stopAfter', schedules } satisfies WorkerCommand);
        },
      };
    },
  };
}
