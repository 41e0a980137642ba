/**
 * One worker of `hmmsim explore --workers N` (see explore-pool.ts): rebuilds the scenario from
 * its source (a scenario file, a module or a mutant), runs its share with
 * {@link exploreShare}, and posts progress and its report to the main thread. Started as
 * dist/cli/explore-worker.js, or from the sources through scripts/explore-worker-dev.mjs (which
 * loads tsx).
 * @module
 */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import {
  type ExploreShare,
  explore,
  exploreShare,
  findMutant,
  type Scenario,
  ScenarioError,
} from '../explore/index.ts';
import { NODE_HOST, NODE_PAUSE, setupFailure } from './explore-command.ts';
import type { ExploreSource, WorkerCommand, WorkerMessage } from './explore-pool.ts';
import { loadModuleScenario } from './explore-scale.ts';
import { toExploreScenario } from './scenario/to-explore.ts';
import { loadScenario } from './scenario/validate.ts';

const { source, share } = workerData as { source: ExploreSource; share: ExploreShare };
const post = (m: WorkerMessage): void => parentPort!.postMessage(m);
let limit = Number.POSITIVE_INFINITY;
parentPort!.on('message', (m: WorkerCommand) => {
  if (m.type === 'stopAfter') limit = Math.min(limit, m.schedules);
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
  const report = await exploreShare(scenario, share, {
    explore,
    now: () => performance.now(),
    host: NODE_HOST,
    pause: NODE_PAUSE,
    onProgress: (progress) => post({ type: 'progress', progress }),
    stopAfter: () => limit,
  });
  post({ type: 'report', report });
} catch (e) {
  const failed = setupFailure(e, source.kind === 'mutant' ? `--mutant ${source.id}` : source.display);
  if (failed !== null) post({ type: 'setup-failed', message: failed });
  else if (e instanceof Error)
    post({
      type: 'error',
      message: `${e.name}: ${e.message}`,
      stack: e.stack,
      scenario: e instanceof ScenarioError,
    });
  else post({ type: 'error', message: String(e) });
}
