/**
 * Exploring from a scenario document or a mutant's id in one thread, with the settings resolved
 * as the page's Race mode resolves them: what the Node tests of the page's model explore with.
 * @module
 */
import { type ExploreFlags, exploreSettings, mutantDefaults } from '../../src/cli/explore-settings.ts';
import { toExploreScenario } from '../../src/cli/scenario/to-explore.ts';
import type { ExploreSpec, ScenarioDoc } from '../../src/cli/scenario/types.ts';
import { explore } from '../../src/explore/explore.ts';
import { findMutant } from '../../src/explore/mutants/index.ts';
import type { ExploreReport, Scenario } from '../../src/explore/types.ts';

/**
 * Explores a scenario document or a mutant's scenario in this thread, with `hmmsim explore`'s
 * settings: the options given over the document's `explore` defaults (or the mutant's strategy
 * and budget), resolved and checked by the CLI's own {@link exploreSettings}, as Race mode's
 * pool (web/src/workers/explore-pool.ts) resolves them. The Node tests explore with it.
 */
export async function exploreIn(
  what: { doc: ScenarioDoc } | { mutant: string },
  options: ExploreFlags,
  onProgress?: (schedules: number) => void,
): Promise<ExploreReport> {
  let scenario: Scenario<unknown>;
  let mutant: string | null = null;
  let defaults: ExploreSpec;
  if ('mutant' in what) {
    const spec = findMutant(what.mutant as never);
    if (!spec) throw new Error(`unknown mutant "${what.mutant}"`);
    scenario = spec.scenario as Scenario<unknown>;
    mutant = spec.id;
    defaults = mutantDefaults(spec);
  } else {
    scenario = toExploreScenario(what.doc) as Scenario<unknown>;
    defaults = what.doc.explore ?? {};
  }
  const s = exploreSettings(options, defaults);
  return explore({
    ...scenario,
    strategy: s.strategy,
    ...(s.schedules === undefined ? {} : { schedules: s.schedules }),
    ...(s.seconds === undefined ? {} : { seconds: s.seconds }),
    seed: s.seed,
    ...(s.depth === undefined ? {} : { depth: s.depth }),
    ...(s.bound === undefined ? {} : { preemptionBound: s.bound }),
    mutant: mutant as never,
    now: () => performance.now(),
    progressEvery: 10,
    onProgress: (p) => onProgress?.(p.schedules),
  });
}
