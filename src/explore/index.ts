/**
 * The race explorer: scenarios, strategies (random walk, PCT, bounded exhaustive search), the
 * runner of one schedule, replay tokens, shrinking, accounts of interleavings, oracles and
 * mutants.
 * @module
 */
export { type AccountTextOptions, formatAccount } from './account.ts';
export { InterleavingCoverage, uniteCoverage } from './coverage.ts';
export {
  DEFAULT_PCT_DEPTH,
  DEFAULT_PREEMPTION_BOUND,
  DEFAULT_PROGRESS_EVERY,
  DEFAULT_SCHEDULES,
  explore,
  makeStrategy,
  type ReplayOptions,
  replay,
} from './explore.ts';
export { findMutant, MUTANTS, type MutantSpec } from './mutants/index.ts';
export type { Oracle, OracleContext, OracleInstance } from './oracle.ts';
export {
  assertionOracle,
  attachObserver,
  balanceOracle,
  defaultOracles,
  livenessOracle,
  lostDataOracle,
  mirrorEntryMismatch,
  mirrorOracle,
  OBSERVER_HOOKS,
  ObserverHub,
  useAfterFreeOracle,
} from './oracles/index.ts';
export {
  formatReplayToken,
  parseReplayToken,
  REPLAY_TOKEN_VERSION,
  type ReplayTokenData,
  trimChoices,
} from './replay-token.ts';
export {
  DEFAULT_MAX_VIRTUAL_TIME,
  DEFAULT_STEP_BUDGET,
  defaultTeardown,
  type RunOptions,
  runSchedule,
  ScenarioError,
} from './runner.ts';
export { DEFAULT_SHRINK_RUNS, type ShrinkOptions, type ShrinkResult, shrinkSchedule } from './shrink.ts';
export { ExhaustiveStrategy, NondeterministicScenarioError } from './strategies/exhaustive.ts';
export { ListChooser } from './strategies/list.ts';
export { PCT_INITIAL_STEPS, PctStrategy } from './strategies/pct.ts';
export { PORTFOLIO_MAX_DEPTH, PortfolioStrategy, portfolioDepths } from './strategies/portfolio.ts';
export { RandomStrategy } from './strategies/random.ts';
export { type Chooser, isPreemption, type Strategy } from './strategies/strategy.ts';
export type {
  AccountStep,
  CoveragePair,
  ExploreCoverage,
  ExploreFailure,
  ExploreOptions,
  ExplorePool,
  ExploreProgress,
  ExploreReport,
  ExploreShard,
  ExploreShare,
  ExploreShareEvents,
  ExploreShareRun,
  ExploreWorkerSummary,
  Scenario,
  ScenarioEnv,
  ScenarioThread,
  ScheduleResult,
  StrategyName,
  Violation,
} from './types.ts';
export {
  type ExploreShareHooks,
  exploreShare,
  inThreadPool,
  MAX_WORKERS,
  mergeShareReports,
  planShares,
  type SharePlan,
  splitBudget,
} from './workers.ts';
