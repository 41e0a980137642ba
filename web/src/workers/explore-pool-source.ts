/**
 * What the page and the workers of its exploration pool say to each other, and how a worker
 * (or the page) rebuilds the explored scenario from its source. Apart from explore-pool.ts so
 * that a pool worker does not load the module that starts pool workers.
 * @module
 */
import { toExploreScenario } from '../../../src/cli/scenario/to-explore.ts';
import { findMutant } from '../../../src/explore/mutants/index.ts';
import type {
  ExploreProgress,
  ExploreReport,
  ExploreShare,
  Scenario,
  StrategyName,
} from '../../../src/explore/types.ts';
import { type Invalid, parseScenario } from '../model/scenario-text.ts';

/** Where the explored scenario comes from: what a worker needs to rebuild it. */
export type PoolSource =
  | { readonly kind: 'mutant'; readonly id: string }
  | { readonly kind: 'text'; readonly text: string; readonly file: string };

/** What the page tells a pool worker. */
export type PoolCommand =
  | { readonly type: 'start'; readonly source: PoolSource; readonly share: ExploreShare }
  | { readonly type: 'stopAfter'; readonly schedules: number };

/** What a pool worker posts. */
export type PoolMessage =
  | { readonly type: 'progress'; readonly progress: ExploreProgress }
  | { readonly type: 'report'; readonly report: ExploreReport }
  | { readonly type: 'error'; readonly message: string };

/** A source's explorer scenario, and what the CLI takes from it when the command line does not say. */
export interface SourceScenario {
  readonly scenario: Scenario<unknown>;
  readonly mutant: string | null;
  /** A mutant's strategy, or the scenario file's `explore.strategy`. */
  readonly strategy: StrategyName | undefined;
  /** The scenario file's `explore.depth` and `explore.bound`. */
  readonly depth: number | undefined;
  readonly bound: number | undefined;
}

/** The explorer scenario of a source with its defaults, or the scenario text's issues. */
export function scenarioOfSource(source: PoolSource): SourceScenario | Invalid {
  if (source.kind === 'mutant') {
    const spec = findMutant(source.id);
    if (!spec) throw new Error(`unknown mutant "${source.id}"`);
    const scenario = spec.scenario as Scenario<unknown>;
    return { scenario, mutant: spec.id, strategy: spec.strategy, depth: undefined, bound: undefined };
  }
  const doc = parseScenario(source.text, source.file);
  if ('kind' in doc) return doc;
  return {
    scenario: toExploreScenario(doc) as Scenario<unknown>,
    mutant: null,
    strategy: doc.explore?.strategy,
    depth: doc.explore?.depth,
    bound: doc.explore?.bound,
  };
}
