/**
 * One worker of `hmmsim explore --workers N`: rebuilds the scenario from its source (a scenario
 * file or a mutant), explores its shard of the budget with its own seed, and posts progress and
 * its report to the main thread. Started as dist/cli/explore-worker.js, or from the sources through
 * scripts/explore-worker-dev.mjs (which loads tsx).
 * @module
 */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { type ExploreOptions, explore, findMutant, type Scenario } from '../explore/index.ts';
import {
  type ExploreShard,
  type ExploreSource,
  exploreOptions,
  NODE_HOST,
  NODE_PAUSE,
  setupFailure,
  type WorkerMessage,
} from './explore-command.ts';
import { loadModuleScenario } from './explore-scale.ts';
import { toExploreScenario } from './scenario/to-explore.ts';
import { loadScenario } from './scenario/validate.ts';

const { source, shard } = workerData as { source: ExploreSource; shard: ExploreShard };
const post = (m: WorkerMessage): void => parentPort!.postMessage(m);
let stopped = false;
parentPort!.on('message', (m: { type: string }) => {
  if (m.type === 'stop') stopped = true;
});
parentPort!.unref(); // the listener must not keep the worker alive once its report is posted

try {
  const scenario: Scenario<unknown> =
    source.kind === 'file'
      ? (toExploreScenario(
          loadScenario(readFileSync(source.path, 'utf8'), source.display),
        ) as Scenario<unknown>)
      : source.kind === 'module'
        ? await loadModuleScenario(source.path, source.display)
        : (findMutant(source.id)!.scenario as Scenario<unknown>);
  const report = await explore({
    ...scenario,
    ...exploreOptions(shard),
    now: () => performance.now(),
    host: NODE_HOST,
    onProgress: (progress) => post({ type: 'progress', progress }),
    progressEvery: 10,
    shouldStop: () => stopped,
    pause: NODE_PAUSE,
  } as ExploreOptions<unknown>);
  post({ type: 'report', report });
} catch (e) {
  const failed = setupFailure(e, source.kind === 'mutant' ? `--mutant ${source.id}` : source.display);
  if (failed !== null) post({ type: 'setup-failed', message: failed });
  else post({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
}
