/**
 * What the page and the workers of its exploration pool say to each other, and how a worker
 * (or the page) rebuilds the explored scenario from its source. Apart from explore-pool.ts so
 * that a pool worker does not load the module that starts pool workers.
 * @module
 */
import { mutantDefaults } from '../../../src/cli/explore-settings.ts';
import { exportedScenario, moduleLoadFailed } from '../../../src/cli/module-scenario.ts';
import { toExploreScenario } from '../../../src/cli/scenario/to-explore.ts';
import type { ExploreSpec } from '../../../src/cli/scenario/types.ts';
import { ScenarioError } from '../../../src/cli/scenario/validate.ts';
import { findMutant } from '../../../src/explore/mutants/index.ts';
import type { ExploreProgress, ExploreReport, ExploreShare, Scenario } from '../../../src/explore/types.ts';
import { type Invalid, invalidOf, parseScenario } from '../model/scenario-text.ts';

/**
 * Where the explored scenario comes from: what a worker needs to rebuild it. A module is an ES
 * module at `url` exporting a Scenario (default, or `scenario`), as `hmmsim explore file.mjs`
 * takes one; `display` names it in messages.
 */
export type PoolSource =
  | { readonly kind: 'mutant'; readonly id: string }
  | { readonly kind: 'text'; readonly text: string; readonly file: string }
  | { readonly kind: 'module'; readonly url: string; readonly display: string };

/** What the page tells a pool worker. */
export type PoolCommand =
  | { readonly type: 'start'; readonly source: PoolSource; readonly share: ExploreShare }
  | { readonly type: 'stopAfter'; readonly schedules: number };

/** What a pool worker posts. */
export type PoolMessage =
  | { readonly type: 'progress'; readonly progress: ExploreProgress }
  | { readonly type: 'report'; readonly report: ExploreReport }
  | { readonly type: 'error'; readonly message: string };

/** A source's explorer scenario, and what the CLI takes from it when no option says otherwise. */
export interface SourceScenario {
  readonly scenario: Scenario<unknown>;
  readonly mutant: string | null;
  /** A mutant's strategy and budget, or the scenario file's `explore` object (a module has none). */
  readonly defaults: ExploreSpec;
}

/**
 * The defaults `hmmsim explore` takes from a source (a mutant's strategy and budget, a file's
 * `explore`), or null when the scenario text does not parse (its issues are shown elsewhere).
 */
export function sourceDefaults(source: PoolSource): ExploreSpec | null {
  if (source.kind === 'mutant') {
    const spec = findMutant(source.id);
    return spec ? mutantDefaults(spec) : null;
  }
  if (source.kind === 'module') return {};
  const doc = parseScenario(source.text, source.file);
  return 'kind' in doc ? null : (doc.explore ?? {});
}

/** The explorer scenario of a source with its defaults, or the issues of its text or module. */
export async function scenarioOfSource(source: PoolSource): Promise<SourceScenario | Invalid> {
  if (source.kind === 'mutant') {
    const spec = findMutant(source.id);
    if (!spec) throw new Error(`unknown mutant "${source.id}"`);
    return { scenario: spec.scenario as Scenario<unknown>, mutant: spec.id, defaults: mutantDefaults(spec) };
  }
  if (source.kind === 'module') {
    try {
      let mod: Record<string, unknown>;
      try {
        mod = (await import(/* @vite-ignore */ source.url)) as Record<string, unknown>;
      } catch (e) {
        moduleLoadFailed(source.display, e);
      }
      return { scenario: exportedScenario(mod, source.display), mutant: null, defaults: {} };
    } catch (e) {
      if (e instanceof ScenarioError) return invalidOf(e);
      throw e;
    }
  }
  const doc = parseScenario(source.text, source.file);
  if ('kind' in doc) return doc;
  return {
    scenario: toExploreScenario(doc) as Scenario<unknown>,
    mutant: null,
    defaults: doc.explore ?? {},
  };
}
