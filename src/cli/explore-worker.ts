/**
 * One worker of `hmmsim explore --workers N`: rebuilds the scenario from its source (a scenario
 * file or a mutant), explores its shard of the budget with its own seed, and posts progress and
 * its report to the main thread. Started through bin/explore-worker.mjs (which loads tsx).
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
  type WorkerMessage,
} from './explore-command.ts';
import { loadModuleScenario } from './explore-scale.ts';
import { toExploreScenario } from './scenario/to-explore.ts';
import { loadScenario } from './scenario/validate.ts';

const { source, shard } = workerData as { source: ExploreSource; shard: ExploreShard };
const post = (m: WorkerMessage): void => parentPort!.postMessage(m);

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
  } as ExploreOptions<unknown>);
  post({ type: 'report', report });
} catch (e) {
  post({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
}
